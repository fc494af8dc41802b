"""The long fuzz run of issue #9: thousands of structure-aware mutants of the repo's test models,
each through export -> -Werror ASan/UBSan build -> run -> comparison with TFLM.

    PYTHONPATH=. .venv/bin/python bench/fuzz_models.py --mutants 2000 [--seed 1] [--save-failures DIR]

Prints the outcome table (the property and the classes are in tests/model_fuzz.py) and every
failure with the mutation that caused it; --save-failures writes each failing mutant as a .tflite,
ready to become a named regression file under tests/data/regressions/. Exit 1 if any mutant failed.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import model_fuzz  # noqa: E402

TESTDATA = REPO / "tests" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mutants", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--models", nargs="*", type=Path, default=sorted(TESTDATA.glob("*.tflite")))
    ap.add_argument("--save-failures", type=Path)
    args = ap.parse_args()
    seeds = [p.read_bytes() for p in args.models]
    rng = np.random.default_rng(args.seed)
    counts, failures, t0 = collections.Counter(), [], time.time()
    with tempfile.TemporaryDirectory() as tmp:
        checker = model_fuzz.Checker(Path(tmp))
        for i in range(args.mutants):
            k = i % len(seeds)
            data, what = model_fuzz.mutate(seeds[k], rng)
            outcome = checker.check(data)
            counts[outcome.kind] += 1
            if outcome.kind in model_fuzz.FAILURES:
                failures.append((i, args.models[k].name, what, outcome))
                print(f"FAIL #{i} {args.models[k].name}: {what} -> {outcome.kind}: {outcome.detail}", flush=True)
                if args.save_failures:
                    args.save_failures.mkdir(parents=True, exist_ok=True)
                    (args.save_failures / f"{outcome.kind}_{i}.tflite").write_bytes(data)
            if (i + 1) % 100 == 0:
                print(f"... {i + 1} mutants, {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
    print(f"\n{args.mutants} mutants of {', '.join(p.name for p in args.models)} (seed {args.seed}), "
          f"{time.time() - t0:.0f} s\n")
    print(model_fuzz.table(counts))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
