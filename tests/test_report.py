"""Reports are drawn from results.json alone; nulls stay nulls; the Markdown is snapshot-tested."""

import json
import os

from conftest import REPO

import pytest

from pipeline import report
from edgepipe_base.errors import EdgepipeError

GOLDEN = REPO / "tests" / "golden" / "report_table.md"


def _doc():
    def v(name, kind, types, size, gz, deployable, reason=""):
        return {"name": name, "kind": kind, "tensor_types": types, "tflite_bytes": size, "gzip_bytes": gz,
                "sparsity": 0.0, "params": 1000, "quantization": name, "tflite_path": f"{name}.tflite",
                "preflight": {"deployable": deployable, "reason": reason}}

    def r(variant, target, acc, **kw):
        base = {k: None for k in ("latency_ms", "instructions", "cycles", "arena_bytes", "flash_bytes",
                                  "ram_bytes", "bit_exact", "mismatches", "error")}
        return {**base, "variant": variant, "target": target, "accuracy": acc, "metric": "top1",
                "samples": 100, **kw}

    return {
        "model": "toy", "dataset": "digits", "edgepipe_version": "0", "created": "2026-01-01T00:00:00+00:00",
        "test_samples": 100, "float_test_accuracy": 0.9,
        "variants": [v("fp32", "float32", "float", 20480, 18000, False, "integer_io: input float32"),
                     v("int8", "PTQ int8", "int8", 5120, 4000, True)],
        "results": [
            r("fp32", "host-litert", 0.90, latency_ms={"median": 0.010, "p90": 0.012}),
            r("int8", "host-litert", 0.89, latency_ms={"median": 0.004, "p90": 0.005}),
            r("fp32", "host-tflm", 0.90, arena_bytes=4096),
            r("int8", "host-tflm", 0.89, arena_bytes=2048),
            r("int8", "mps2-an386", 0.89, instructions={"median": 123456, "max": 123460},
              latency_ms={"median": 4.94, "p90": 4.94, "estimate": True}, flash_bytes=30720,
              ram_bytes=8192, arena_bytes=1536, mismatches=0, bit_exact=True),
            r("int8", "nucleo-f446re", None, error="no answer on /dev/ttyACM0"),
        ],
    }


def test_markdown_matches_golden(tmp_path):
    paths = report.write(_doc(), tmp_path)
    text = paths["md"].read_text()
    if os.environ.get("EDGEPIPE_UPDATE_GOLDEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_numbers_come_from_results(tmp_path):
    head, rows = report.variant_table(_doc())
    assert head[3] == "acc % (n=100)" and head[10] == "TFLM acc % (n=100)"
    row = dict(zip(head, rows[1]))
    assert row["acc % (n=100)"] == "89.00" and row["Δ fp32 pts"] == "-1.00"
    assert row["× fp32"] == "0.25" and row["LiteRT µs (p50)"] == "4.0" and row["TFLM arena KiB"] == "2.0"
    assert row["TFLM acc % (n=100)"] == "89.00"
    assert dict(zip(head, rows[0]))["MCU deployable"] == "no: integer_io: input float32"


def test_missing_measurements_are_dashes_not_numbers():
    head, rows = report.target_table(_doc())
    failed = dict(zip(head, rows[-1]))
    assert failed["acc %"] == "–" and failed["cycles/inf (p50)"] == "–" and "no answer" in failed["note"]
    board = dict(zip(head, rows[0]))
    assert board["instructions/inf (p50)"] == "123,456" and board["est. ms @clock"] == "4.94 (estimate)"


def test_estimated_cycles_are_labelled_and_drive_the_estimated_ms(tmp_path):
    doc = _doc()
    board = doc["results"][4]
    board.update(cycles_estimate={"median": 150000, "max": 150010, "low": 140000, "high": 160000},
                 ms_estimate=6.0, macs_per_cycle_estimate=0.25)
    head, rows = report.target_table(doc)
    row = dict(zip(head, rows[0]))
    # the ms come from the estimated cycles (150,000 / 25 MHz), not from the instructions (4.94)
    assert row["est. cycles/inf (p50)"] == "150,000" and row["MAC/est. cycle"] == "0.250"
    assert row["est. ms @clock"] == "6.00 (estimate)" and row["cycles/inf (p50)"] == "–"
    assert "est. cycles: the executed instruction mix" in report.render(doc)
    board["layers"] = [{"index": 0, "opcode": "CONV_2D", "name": "c0", "macs": 4000, "instructions": 2000,
                        "macs_per_instruction": 2.0, "peak_fraction_estimate": 1.0,
                        "cycles_estimate": 2500, "macs_per_cycle_estimate": 1.6}]
    head, rows = report.layer_table(doc)
    layer = dict(zip(head, rows[0]))
    assert layer["est. cycles"] == "2,500" and layer["MACs/est. cycle"] == "1.600"
    csv = report.write(doc, tmp_path)["csv"].read_text().splitlines()
    cols, line = csv[0].split(","), next(ln for ln in csv if ",mps2-an386," in ln).split(",")
    assert line[cols.index("cycles_estimate_median")] == "150000" and line[cols.index("ms_estimate")] == "6.0"


def test_slowest_layers_come_from_the_per_layer_rows(tmp_path):
    doc = _doc()
    board = doc["results"][4]
    board["layers"] = [
        {"index": 0, "opcode": "CONV_2D", "name": "c0", "macs": 4000, "instructions": 2000,
         "macs_per_instruction": 2.0, "peak_fraction_estimate": 1.0},
        {"index": 1, "opcode": "DEPTHWISE_CONV_2D", "name": "d1", "macs": 900, "instructions": 6000,
         "macs_per_instruction": 0.15, "peak_fraction_estimate": 0.075},
        {"index": 2, "opcode": "ADD", "name": "a2", "macs": 0, "instructions": 1000,
         "macs_per_instruction": 0.0, "peak_fraction_estimate": 0.0},
        {"index": 3, "opcode": "SOFTMAX", "name": "s3", "macs": 0, "instructions": 10,
         "macs_per_instruction": 0.0, "peak_fraction_estimate": 0.0},
    ]
    head, rows = report.layer_table(doc)
    assert [dict(zip(head, r))["op"] for r in rows] == ["DEPTHWISE_CONV_2D", "CONV_2D", "ADD"]   # top 3
    top = dict(zip(head, rows[0]))
    assert top["count"] == "6,000 instr" and top["share %"] == "66.6" and top["MACs/count"] == "0.150"
    assert top["% of peak"] == "7.5 (estimate)"
    assert "## Slowest layers" in report.write(doc, tmp_path)["md"].read_text()
    # without per-layer rows there is no section (the golden report above has none)
    assert report.layer_table(_doc())[1] == []


def test_json_and_csv_roundtrip(tmp_path):
    doc = _doc()
    paths = report.write(doc, tmp_path)
    assert json.loads(paths["json"].read_text()) == doc
    lines = paths["csv"].read_text().splitlines()
    assert len(lines) == 1 + len(doc["results"])
    assert lines[-1].startswith("int8,PTQ int8,int8,int8,5120,") and lines[-1].endswith("no answer on /dev/ttyACM0")
    board = next(ln for ln in lines if ",mps2-an386," in ln).split(",")
    assert board[lines[0].split(",").index("latency_is_estimate")] == "True"
    assert report.load(tmp_path) == doc
    (tmp_path / "results.json").write_text('{"something": "else"}')
    with pytest.raises(EdgepipeError, match="not an edgepipe results file"):
        report.load(tmp_path)


def test_compression_facts_say_what_was_measured():
    f = report.compression_facts
    assert f({"sparsity": 0.75, "not_pruned": ["conv1: 144 weights", "classifier: output layer"]}) \
        == "kept dense: conv1, classifier"
    assert f({"m_by_n": [2, 4], "m_by_n_holds": {"a": True, "b": False}}) == "2:4 sparsity BROKEN"
    assert f({"teacher_params": 1000, "student_params": 250, "temperature": 2.0, "alpha": 0.5}) \
        == "student 250 params (0.25× teacher), T=2 α=0.5"
    assert f({"clusters": 16, "unique_weights_per_layer": {"a": 16, "b": 12}}) == "16 clusters, ≤16 distinct weights/layer"
    assert f({"binary_weights": True, "packed_total_weight_bytes": 2048, "float32_total_weight_bytes": 65536}) \
        == "weights would pack to 2.0 KiB at 1 bit (float32 64.0 KiB); shipped as int8"
    assert f({}) == ""
    assert f({"sparsity": 0.75, "weight_bytes": 4096, "bitmap_sparse_weight_bytes_computed": 1536}) \
        == "weights 4.0 KiB dense, 1.5 KiB bitmap-sparse (computed)"
