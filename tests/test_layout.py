"""The speed/size choice for generation-time kernel tables (firmware_gen/layout.py): what each
layout generates, both bit-exact with TFLM on the Cortex-M4 board, the CLI option recorded in
results.json (rows of the two layouts side by side), and the board fit check's measured hint."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError
from firmware_gen import board_build, boards, codegen, dsp_layout, stem
from firmware_gen.boards import Region
from pipeline import accumulate, cli
from pipeline.bench import board as board_bench

KWS = Path(__file__).parent / "data" / "mlperf_tiny_kws_ref_model.tflite"
TABLE = re.compile(r"(?:#if (\S+)\n)?static const (\w+) (kw_l\d+_\w+)\[(\d+)\] KW_ALIGN16 = \{\s*(-?\d+),")


def _tables(layout, tmp_path):
    src = codegen.generate(KWS, tmp_path / layout, "kw", layout=layout).c_path.read_text()
    return {name: (guard, ctype, int(n), int(first)) for guard, ctype, name, n, first in TABLE.findall(src)}


def test_layouts_generate_the_expected_tables(tmp_path):
    """speed: KWS's four 64->64 pointwise convs (125 output pixels) get the int16 DSP stream and
    its first conv (10x4x1) the stem kernel's widened filters; size: the same streams in the int8
    format (as many weight bytes as the int8 weights they replace), the same stem table. Every other
    table is the same in both, and everything either layout adds is for DSP builds only."""
    speed, size = _tables("speed", tmp_path), _tables("size", tmp_path)
    m = tflite_file.read(KWS).main
    convs = {i: op for i, op in enumerate(m.operators) if op.opcode == "CONV_2D"}
    streams = {n for n in speed if n.endswith("_dsp_weights")}
    assert streams == {n for n in size if n.endswith("_dsp_weights")} and len(streams) == 4
    for name in streams:
        op = convs[int(re.match(r"kw_l(\d+)_", name).group(1))]
        out_c, k = int(m.tensors[op.outputs[0]].shape[-1]), int(np.prod(m.tensors[op.inputs[1]].shape[1:]))
        assert speed[name] == ("EP_KERNELS_DSP", "int32_t", dsp_layout.words(out_c, k, wide=True), 16)
        assert size[name] == ("EP_KERNELS_DSP", "int32_t", dsp_layout.words(out_c, k, wide=False), 8)
        # int8 stream: the weights' own bytes plus 20 per output channel and the format word
        assert 4 * size[name][2] == out_c * k + 20 * out_c + 4
        assert 4 * speed[name][2] - 4 * size[name][2] == out_c * k      # int16: one more byte a weight
    stems = [n for n in speed if n.endswith("_stem_weights")]
    assert len(stems) == 1 and speed[stems[0]][0] == "EP_KERNELS_DSP"
    w = m.tensors[convs[0].inputs[1]].shape
    assert speed[stems[0]][2] == stem.table_words(int(w[1]), int(w[2]), int(w[3]), int(w[0]))
    rest = {n: t for n, t in speed.items() if n not in streams}
    assert rest == {n: t for n, t in size.items() if n not in streams}


def test_unknown_layout_is_one_clear_error(tmp_path):
    with pytest.raises(EdgepipeError, match=r"unknown layout 'tiny'; valid layouts: size, speed"):
        codegen.generate(KWS, tmp_path, "kw", layout="tiny")
    with pytest.raises(SystemExit) as exc:
        cli.parser().parse_args(["bench", str(KWS), "--target", "mps2-an386", "--layout", "tiny"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_cli_layouts_bit_exact_and_rows_side_by_side(tmp_path, capsys):
    """`edgepipe bench --layout size` then `--layout speed` on the Cortex-M4 board: both bit-exact
    with TFLM, each row records its layout, the second run keeps the first run's row, the size
    row's firmware is smaller, and the report tells the two apart."""
    out = tmp_path / "run"
    for layout in ("size", "speed"):
        rc = cli.main(["bench", str(KWS), "--target", "mps2-an386", "--samples", "3", "--out", str(out),
                       "--layout", layout])
        assert rc == 0, capsys.readouterr().err
    doc = json.loads((out / "results.json").read_text())
    rows = doc["results"]
    assert doc["runs"][-1]["layouts"] == ["speed"]
    assert [r["layout"] for r in accumulate.this_run(doc)] == ["speed"]      # what the exit code is about
    by = {r["layout"]: r for r in rows if r["target"] == "mps2-an386"}
    assert len(rows) == 2 and set(by) == {"size", "speed"}
    assert all(r["mismatches"] == 0 and r["samples"] == 3 and r["engine"] == "edgepipe" for r in rows)
    assert by["size"]["flash_bytes"] < by["speed"]["flash_bytes"]
    assert by["size"]["instructions"]["median"] > by["speed"]["instructions"]["median"]
    table = (out / "table.md").read_text()
    assert "edgepipe (size)" in table and "edgepipe (speed)" in table
    csv_rows = (out / "table.csv").read_text().splitlines()
    layout_col = csv_rows[0].split(",").index("layout")
    assert sorted(r.split(",")[layout_col] for r in csv_rows[1:]) == ["size", "speed"]


@pytest.mark.slow
def test_flash_check_says_what_the_size_layout_saves(tmp_path):
    """A Cortex-M4 board whose flash holds KWS in the size layout but not in the speed layout: the
    fit check fails with the measured saving (both engines compiled for the core), and the size
    layout builds."""
    b = boards.load_board("mps2-an386")
    needs = board_build.tflite_needs(b, KWS)
    flash = {}
    for layout in ("speed", "size"):
        e = codegen.generate(KWS, tmp_path / layout, "bench", layout=layout)
        flash[layout] = board_build.engine_flash_bytes(b, e, tmp_path / f"obj-{layout}")
        arena = e.arena_bytes
    saved = flash["speed"] - flash["size"]
    assert saved > 15 * 1024            # the int16 weights of four 64x64 layers
    small = dataclasses.replace(b, flash=Region(b.flash.origin, needs.with_engine(arena, flash["size"]).flash_bytes))
    with pytest.raises(EdgepipeError) as exc:
        board_bench.prepare(small, KWS, tmp_path / "w")
    msg = str(exc.value)
    assert "\n" not in msg and "does not fit board mps2-an386" in msg
    assert msg.endswith(f"; use --layout size (LAYOUT=size) to keep int8 weights: about "
                        f"{(saved + 1023) // 1024} KiB less ({saved} bytes, enough to fit)")
    _, engine, fw = board_bench.prepare(small, KWS, tmp_path / "w", layout="size")
    assert engine.layout == "size" and fw.flash_bytes <= small.flash.size


def test_export_takes_the_layout(tmp_path, capsys):
    """`edgepipe export --layout size`: the exported engine holds int8 streams only (and the stem table)."""
    assert cli.main(["export", str(KWS), "--out", str(tmp_path / "x"), "--prefix", "kw", "--layout", "size"]) == 0
    src = (tmp_path / "x" / "kw_model.c").read_text()
    formats = {int(f) for _, _, n, _, f in TABLE.findall(src) if n.endswith("_dsp_weights")}
    assert formats == {8} and "_stem_weights[" in src
