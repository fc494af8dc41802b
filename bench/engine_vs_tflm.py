"""Instructions per inference: the generated C engine vs the TFLM interpreter, both on this machine.

    PYTHONPATH=. .venv/bin/python bench/engine_vs_tflm.py [model.tflite ...]

Both sides are counted with valgrind's callgrind as (run with N inferences - run with 0) / N, so
process start-up, model loading and (for TFLM) the Python interpreter cancel out. The engine is
built with gcc -O3 like host-c; TFLM is the tflite_micro wheel (its reference kernels), loaded
through firmware_gen.tflm as everywhere else. Without arguments the four testdata models are measured.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from firmware_gen import codegen, host_run  # noqa: E402
from pipeline.bench.host_c import HOST_OPT, callgrind_instructions  # noqa: E402

TESTDATA = REPO / "tests" / "data"      # third-party models, copied with their NOTICE.md
MIN_RUNS, MAX_RUNS = 3, 1000


def runs_for(macs: int) -> int:
    """Enough inferences that the interpreter's run-to-run noise (~1e5 instructions) stays < 1 %."""
    return int(min(MAX_RUNS, max(MIN_RUNS, 2e8 // max(macs * 20, 1))))

# run under callgrind in its own process: only invoke() differs between the N and the 0 run
TFLM_DRIVER = """
import sys
import numpy as np
from firmware_gen import tflm
model = open(sys.argv[1], "rb").read()
interp = tflm.interpreter(model, arena_size=4 * 1024 * 1024, where=sys.argv[1])
x = np.frombuffer(open(sys.argv[3], "rb").read(), dtype=np.int8).reshape(interp.get_input_details(0)["shape"])
interp.set_input(x, 0)
for _ in range(int(sys.argv[2])):
    interp.invoke()
"""


def tflm_instructions(model: Path, x: np.ndarray, runs: int, work: Path) -> int:
    driver = work / "tflm_driver.py"
    driver.write_text(TFLM_DRIVER)
    inp = work / "input.bin"
    inp.write_bytes(np.ascontiguousarray(x, np.int8).tobytes())

    def total(n: int) -> int:
        out = work / f"tflm.{n}.callgrind"
        env = {**os.environ, "PYTHONHASHSEED": "0",   # same dict layouts in both runs
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
                        str(driver), str(model), str(n), str(inp)], capture_output=True, check=True, env=env)
        return int(re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(), re.MULTILINE).group(1))

    return (total(runs) - total(0)) // runs


def main(paths: list[Path]) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            work = Path(tmp) / path.stem
            engine = codegen.generate(path, work, "bench")
            binary = host_run.build(engine, work, opt=HOST_OPT)
            x = np.random.default_rng(0).integers(-128, 128, size=engine.input_shape, dtype=np.int8)
            runs = runs_for(engine.macs)
            ours, why = callgrind_instructions(binary, x.tobytes(), runs)
            if ours is None:
                sys.exit(f"{path.name}: no instruction count for the engine: {why}")
            ref = tflm_instructions(path, x, runs, work)
            rows.append((path.stem, engine.macs, ours, ref))
            print(f"measured {path.stem}", file=sys.stderr)
    print(f"| model | MACs | edgepipe C gcc {HOST_OPT} (instr/inference) | TFLM wheel (instr/inference) "
          "| TFLM / edgepipe |")
    print("|---|---:|---:|---:|---:|")
    for name, macs, ours, ref in rows:
        print(f"| {name} | {macs:,} | {ours:,} | {ref:,} | {ref / ours:.2f}x |")


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:]] or sorted(TESTDATA.glob("*.tflite"))
    main(args)
