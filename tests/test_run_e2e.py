"""The whole host pipeline on digits_cnn: train -> PTQ variants -> preflight -> LiteRT/TFLM -> report."""

import csv
import json
from pathlib import Path

import pytest

from pipeline.run import PTQ_VARIANTS, RunConfig, run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("e2e")
    cfg = RunConfig(model="digits_cnn", variants=PTQ_VARIANTS, targets=("host-litert", "host-tflm"),
                    out=out, options={"latency_runs": 20})
    doc, paths = run(cfg)
    return cfg, doc, paths


def test_results_json_follows_the_schema(digits_run):
    _, doc, paths = digits_run
    on_disk = json.loads(paths["json"].read_text())
    assert on_disk["model"] == "digits_cnn" and on_disk["dataset"] == "digits"
    for key in ("edgepipe_version", "created", "variants", "results"):
        assert key in on_disk
    assert [v["name"] for v in on_disk["variants"]] == list(PTQ_VARIANTS)
    for v in on_disk["variants"]:
        assert {"name", "kind", "tflite_path", "tflite_bytes", "params", "sparsity", "preflight"} <= set(v)
    for r in on_disk["results"]:
        assert {"variant", "target", "accuracy", "metric", "samples", "latency_ms", "arena_bytes",
                "flash_bytes", "ram_bytes", "bit_exact", "mismatches"} <= set(r)


def test_tflm_runs_only_what_it_can_and_agrees_with_litert(digits_run):
    _, doc, _ = digits_run
    idx = {(r["variant"], r["target"]): r for r in doc["results"]}
    for name in ("fp16", "dynamic"):
        assert idx[(name, "host-tflm")]["accuracy"] is None and "TFLM" in idx[(name, "host-tflm")]["skipped"]
    lite, micro = idx[("int8", "host-litert")], idx[("int8", "host-tflm")]
    assert abs(lite["accuracy"] - micro["accuracy"]) <= 2 / lite["samples"]
    assert micro["arena_bytes"] > 0 and lite["latency_ms"]["median"] > 0
    # measurements not taken stay null
    assert lite["instructions"] is None and lite["cycles"] is None and lite["arena_bytes"] is None


def test_tables_show_every_variant_and_deployability(digits_run):
    _, doc, paths = digits_run
    md = paths["md"].read_text()
    for name in PTQ_VARIANTS:
        assert f"| {name} |" in md
    rows = {}                 # the variant table's line of each variant (the first one in the file)
    for r in md.splitlines():
        if r.startswith("| "):
            rows.setdefault(r.split("|")[1].strip(), r)
    # a target asked for but not run on a variant still has its line, saying why
    assert "| dynamic | host-tflm |" in md and "skipped: TFLM cannot run it" in md
    assert rows["int8"].rstrip(" |").endswith("yes")
    assert "no: tflm_can_run" in rows["dynamic"]
    with open(paths["csv"]) as f:
        lines = list(csv.DictReader(f))
    assert len(lines) == len(doc["results"])
    int8 = next(r for r in lines if r["variant"] == "int8" and r["target"] == "host-tflm")
    assert int8["deployable"] == "True" and int(int8["arena_bytes"]) > 0


def test_second_run_reuses_every_stage(digits_run, capsys):
    cfg, doc, _ = digits_run
    doc2, _ = run(cfg)
    printed = capsys.readouterr().out
    assert "training" not in printed and "Epoch" not in printed
    assert [v["sha256"] for v in doc2["variants"]] == [v["sha256"] for v in doc["variants"]]
    assert doc2["results"] == doc["results"]      # benchmark rows come back from the cache too


def test_start_from_a_keras_file_and_from_a_tflite(digits_run, tmp_path):
    _, doc, _ = digits_run
    keras_file = next(Path(doc["variants"][0]["tflite_path"]).parent.parent.glob("train-*/model.keras"))
    doc_k, _ = run(RunConfig(model=str(keras_file), variants=("int8",), targets=("host-tflm",),
                             dataset="digits", out=tmp_path / "k"))
    assert doc_k["results"][0]["accuracy"] > 0.9
    int8 = next(v for v in doc["variants"] if v["name"] == "int8")
    doc_t, _ = run(RunConfig(model=int8["tflite_path"], targets=("host-litert",), dataset="digits",
                             out=tmp_path / "t"))
    assert doc_t["variants"][0]["sha256"] == int8["sha256"]
    assert doc_t["results"][0]["accuracy"] == next(r["accuracy"] for r in doc["results"]
                                                   if r["variant"] == "int8" and r["target"] == "host-litert")
