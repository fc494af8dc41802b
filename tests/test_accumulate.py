"""results.json accumulates: runs into one folder add or re-measure rows and never drop the others;
a failed target becomes a row with its reason in every output (real CLI, digits_cnn)."""

import csv
import json
import os
import subprocess

import pytest

from conftest import REPO
from pipeline import accumulate
from test_cli import edgepipe


def _rows(out):
    doc = json.loads((out / "results.json").read_text())
    return doc, {(r["variant"], r["target"]): r for r in doc["results"]}


def edgepipe_on_a_terminal(*args):
    """The CLI with stdout and stderr on a pseudo-terminal (util-linux `script`), as a user sees it."""
    import shlex
    import sys
    cmd = shlex.join([sys.executable, "-m", "pipeline.cli", *map(str, args)])
    p = subprocess.run(["script", "-qec", cmd, "/dev/null"], cwd=REPO, capture_output=True, timeout=600,
                       env={**os.environ, "COLUMNS": "150"})
    text = p.stdout.decode(errors="replace").replace("\r\n", "\n")
    return p.returncode, text, text


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("acc") / "run"
    first = edgepipe("run", "digits_cnn", "--variants", "int8", "--targets", "host-tflm,host-c",
                     "--samples", "host-c=20", "--out", out)
    after_first = _rows(out)
    second = edgepipe_on_a_terminal("run", "digits_cnn", "--variants", "fp32", "--targets", "host-litert",
                                    "--latency-runs", "5", "--out", out)
    after_second = _rows(out)
    # a real board without --port: fails, and must not take the earlier rows with it
    third = edgepipe("run", "digits_cnn", "--variants", "int8", "--targets", "nucleo-l4r5zi", "--samples", "5",
                     "--out", out)
    return out, (first, after_first), (second, after_second), third


def test_a_second_run_with_other_targets_keeps_the_first_rows(three_runs):
    _, (first, (_, rows1)), (second, (doc2, rows2)), _ = three_runs
    assert first[0] == 0, first[2][-2000:]
    assert second[0] == 0, second[2][-2000:]
    assert set(rows1) == {("int8", "host-tflm"), ("int8", "host-c")}
    assert set(rows2) == {("int8", "host-tflm"), ("int8", "host-c"), ("fp32", "host-litert")}
    for key in rows1:                         # kept as measured, not re-measured or emptied
        assert rows2[key] == rows1[key]
    assert rows2[("int8", "host-c")]["mismatches"] == 0 and rows2[("int8", "host-c")]["samples"] == 20
    assert [v["name"] for v in doc2["variants"]] == ["int8", "fp32"]
    assert [r["targets"] for r in doc2["runs"]] == [["host-tflm", "host-c"], ["host-litert"]]


def test_quiet_logs_and_a_progress_bar_on_a_terminal(three_runs):
    _, (first, _), (second, _), _ = three_runs
    _, out, err = first                   # not a terminal: no banners, one labelled line per fit
    for noise in ("oneDNN", "cuda", "absl::", "Epoch 1/", "fully_quantize", "UserWarning"):
        assert noise not in out + err, noise
    assert "training digits_cnn" in out and "  train: " in out and "val_accuracy" in out
    _, tty, _ = second                    # on a terminal: the bar, with what it runs and the samples
    bars = [ln for ln in tty.replace("\r", "\n").splitlines() if ln.startswith("bench:")]
    assert bars and "fp32 on host-litert" in "".join(bars) and "360/360 samples" in bars[-1], tty[-2000:]
    assert "oneDNN" not in tty and "Epoch 1/" not in tty


def test_a_failed_target_adds_a_row_with_its_reason_everywhere(three_runs):
    out, _, (_, (_, rows2)), (rc, stdout, err) = three_runs
    assert rc == 3 and "Traceback" not in err
    assert "int8 on nucleo-l4r5zi" in err and "--port" in err
    doc, rows = _rows(out)
    failed = rows.pop(("int8", "nucleo-l4r5zi"))
    assert "serial port" in failed["error"] and failed["accuracy"] is None
    assert rows == rows2                      # every earlier row is still there, unchanged
    # the reason is in the terminal, table.md, table.csv and report.html
    assert "nucleo-l4r5zi" in stdout and "serial port" in stdout
    md = (out / "table.md").read_text()
    line = next(ln for ln in md.splitlines() if "| nucleo-l4r5zi |" in ln)
    assert "serial port" in line
    with open(out / "table.csv") as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == 4
    board = next(r for r in lines if r["target"] == "nucleo-l4r5zi")
    assert board["status"] == "failed" and "serial port" in board["error"] and board["accuracy"] == ""
    html = (out / "report.html").read_text()
    assert "nucleo-l4r5zi" in html and "serial port" in html


def test_report_rerenders_the_accumulated_rows(three_runs):
    out = three_runs[0]
    rc, stdout, err = edgepipe("report", out)
    assert rc == 0, err
    for target in ("host-c", "nucleo-l4r5zi"):
        assert target in stdout


def test_make_targets_honour_out(tmp_path):
    """`make <board>`, `make export`, `make report` and `make demo` all use the run folder OUT."""
    out = tmp_path / "my run"
    for target, needle in (("mps2-an386", f"--out {out}"), ("report", f"report {out}"),
                           ("export", f"--run {out}"), ("demo", f"--out {out}")):
        p = subprocess.run(["make", "-n", "-C", str(REPO), target, f"OUT={out}", "MODEL=digits_cnn"],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        lines = [ln for ln in p.stdout.splitlines() if ".venv/bin/edgepipe " in ln]
        assert len(lines) == 1 and needle in lines[0], p.stdout


def _row(variant, target, **kw):
    return {"variant": variant, "target": target, "accuracy": 0.5, **kw}


def _doc(variants, rows, **kw):
    return {"model": "m", "dataset": "d", "labels": ["a"], "preprocessing": {"scale": 1},
            "created": kw.pop("created", "t1"), "float_test_accuracy": kw.pop("float_acc", None),
            "variants": [{"name": n, "sha256": s} for n, s in variants], "results": rows, **kw}


def test_merge_is_keyed_on_variant_target_and_engine():
    old = accumulate.merge(None, _doc([("int8", "A")], [_row("int8", "host-tflm", engine="tflm", accuracy=0.1),
                                                        _row("int8", "host-tflm", engine="cmsis", accuracy=0.2),
                                                        _row("int8", "host-c")], float_acc=0.9))
    new = _doc([("int8", "A")], [_row("int8", "host-tflm", engine="cmsis", accuracy=0.3)], created="t2")
    merged = accumulate.merge(old, new)
    assert [(r.get("engine"), r["accuracy"]) for r in merged["results"]] == [("tflm", 0.1), ("cmsis", 0.3), (None, 0.5)]
    assert merged["float_test_accuracy"] == 0.9 and merged["created"] == "t2"
    assert merged["runs"][-1] == {"created": "t2", "variants": ["int8"], "targets": ["host-tflm"], "engines": ["cmsis"]}
    assert accumulate.this_run(merged) == [merged["results"][1]]


def test_rows_of_a_rebuilt_variant_are_kept_and_marked_stale():
    old = accumulate.merge(None, _doc([("int8", "A"), ("fp32", "F")],
                                      [_row("int8", "host-c"), _row("fp32", "host-c")]))
    merged = accumulate.merge(old, _doc([("int8", "B")], [_row("int8", "host-tflm")]))
    rows = {(r["variant"], r["target"]): r for r in merged["results"]}
    assert "earlier build of int8" in rows[("int8", "host-c")]["stale"]
    assert rows[("int8", "host-c")]["variant_sha256"] == "A"
    assert "stale" not in rows[("fp32", "host-c")] and "stale" not in rows[("int8", "host-tflm")]
    assert [v["sha256"] for v in merged["variants"]] == ["B", "F"]
    again = accumulate.merge(merged, _doc([("int8", "B")], [_row("int8", "host-tflm")]))
    assert "stale" in {(r["variant"], r["target"]): r for r in again["results"]}[("int8", "host-c")]


def test_results_of_another_model_are_kept_aside_not_mixed(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(_doc([("int8", "A")], [_row("int8", "host-c")])))
    new = {**_doc([("int8", "A")], []), "dataset": "other"}
    notes = []
    assert accumulate.load_previous(tmp_path, new, note=notes.append) is None
    kept = [p for p in tmp_path.glob("results.*.json")]
    assert len(kept) == 1 and json.loads(kept[0].read_text())["dataset"] == "d"
    assert "dataset" in notes[0] and kept[0].name in notes[0]


def test_a_row_without_an_engine_is_the_default_engines_row():
    """A skipped host-c row (no engine named) is replaced by the measured one (engine "edgepipe"):
    both are the same measurement, not two rows."""
    from pipeline import accumulate
    skipped = {"variant": "binary", "target": "host-c", "skipped": "not for the C engine"}
    measured = {"variant": "binary", "target": "host-c", "engine": "edgepipe", "accuracy": 0.87}
    assert accumulate.row_key(skipped) == accumulate.row_key(measured)
    assert accumulate.row_key({**measured, "engine": "tflm"}) != accumulate.row_key(skipped)
