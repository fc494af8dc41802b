import json

import pytest

from pipeline import cache


def test_stage_runs_once_and_is_reused(tmp_path):
    calls = []

    def produce(out):
        calls.append(out)
        (out / "a.txt").write_text("payload")
        return {"file": "a.txt"}

    d1, m1 = cache.stage(tmp_path, "s", {"x": 1}, produce)
    d2, m2 = cache.stage(tmp_path, "s", {"x": 1}, produce)
    assert len(calls) == 1 and d1 == d2 and (d1 / "a.txt").read_text() == "payload"
    d3, _ = cache.stage(tmp_path, "s", {"x": 2}, produce)
    assert d3 != d1 and len(calls) == 2
    cache.stage(tmp_path, "s", {"x": 1}, produce, force=True)
    assert len(calls) == 3


def test_interrupted_stage_leaves_nothing_trusted(tmp_path):
    def crash(out):
        (out / "half.bin").write_bytes(b"\0" * 10)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cache.stage(tmp_path, "s", {"x": 1}, crash)
    assert list(tmp_path.iterdir()) == []
    d, m = cache.stage(tmp_path, "s", {"x": 1}, lambda out: {"ok": True})
    assert json.loads((d / cache.MANIFEST).read_text())["ok"] is True


def test_write_atomic_replaces_whole_file(tmp_path):
    p = tmp_path / "f.json"
    cache.write_atomic(p, "old")
    cache.write_atomic(p, "new")
    assert p.read_text() == "new" and [x.name for x in tmp_path.iterdir()] == ["f.json"]
