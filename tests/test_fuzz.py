"""Fuzzing the model path (issue #9): structure-aware mutants of the repo's test models must each end
in one clean error line, or in an export that builds with -Werror, runs clean under ASan/UBSan and
matches TFLM. The CI budget is small and seeded; bench/fuzz_models.py runs thousands. Every failing
mutant found is kept in tests/data/regressions/ with what it must now give."""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import model_fuzz  # noqa: E402

MUTANTS = 120
SEEDS = ("tflm_hello_world_int8", "tflm_micro_speech_int8", "mlperf_tiny_kws_ref_model")
REGRESSIONS = Path(__file__).parent / "data" / "regressions"


@pytest.fixture(scope="module")
def checker(tmp_path_factory):
    return model_fuzz.Checker(tmp_path_factory.mktemp("fuzz"))


def test_every_mutant_is_rejected_cleanly_or_runs_exactly(testdata, checker):
    seeds = [(testdata / f"{name}.tflite").read_bytes() for name in SEEDS]
    rng = np.random.default_rng(20261201)
    counts, failures = collections.Counter(), []
    for i in range(MUTANTS):
        data, what = model_fuzz.mutate(seeds[i % len(seeds)], rng)
        outcome = checker.check(data)
        counts[outcome.kind] += 1
        if outcome.kind in model_fuzz.FAILURES:
            failures.append(f"#{i} {SEEDS[i % len(seeds)]}: {what} -> {outcome.kind}: {outcome.detail}")
    assert not failures, model_fuzz.table(counts) + "\n" + "\n".join(failures)
    # not vacuous: the mutants reach both ends of the property
    assert counts["clean_error"] >= MUTANTS // 4 and counts["match"] >= MUTANTS // 10, model_fuzz.table(counts)


@pytest.mark.parametrize("name", sorted(json.loads((REGRESSIONS / "regressions.json").read_text())))
def test_regression(name, checker):
    spec = json.loads((REGRESSIONS / "regressions.json").read_text())[name]
    outcome = checker.check((REGRESSIONS / f"{name}.tflite").read_bytes())
    assert outcome.kind == spec["expect"], outcome
    assert spec["message_contains"] in outcome.detail, outcome.detail
