"""A structure-aware .tflite mutator and the property every mutant must satisfy (issue #9).

Mutants are made with TensorFlow's own flatbuffer schema object API (and, for the raw classes,
byte flips and truncations): shapes, indices, buffers, opcodes, options, quantization, graph order.
The property, checked by `check()`: a mutant ends either in one clean line from edgepipe (an
EdgepipeError, the CLI's exit 2), or in an export whose generated C compiles with -Werror, runs clean
under ASan/UBSan and gives TFLM's outputs byte for byte (and TFLM accepts it too). Anything else —
a Python traceback, a hang, a signal, a sanitizer report, a build failure, a silent mismatch — is a
failure. Used by tests/test_fuzz.py (a CI-sized budget) and bench/fuzz_models.py (thousands).
"""

from __future__ import annotations

import signal
import subprocess
import traceback
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np

from edgepipe_base import tflite_file
from edgepipe_base.errors import EdgepipeError

FAILURES = ("traceback", "hang", "signal", "sanitizer", "werror", "mismatch", "accepted_tflm_rejects",
            "bad_error")
OUTCOMES = ("clean_error", "match") + FAILURES
INT32_EXTREMES = (0, -1, -7, 2, 3, 1 << 15, (1 << 31) - 1, -(1 << 31))
BAD_SCALES = (0.0, -0.5, float("nan"), float("inf"), 1e-38, 1e38, 1e-12)


# ---- mutations: each takes (model, rng), changes the ModelT in place, returns a description ----

def _pick(rng, seq):
    seq = list(seq)
    return seq[int(rng.integers(len(seq)))] if seq else None


def _sg(m):
    return m.subgraphs[0]


def _some_tensor(m, rng, pred=lambda t: True):
    return _pick(rng, [(i, t) for i, t in enumerate(_sg(m).tensors) if pred(t)])


def _some_op(m, rng, pred=lambda op: True):
    return _pick(rng, [(k, op) for k, op in enumerate(_sg(m).operators) if pred(op)])


def _op_name(m, op):
    oc = m.operatorCodes[op.opcodeIndex]
    return tflite_file.builtin_op_name(max(oc.builtinCode, oc.deprecatedBuiltinCode))


def mut_shape(m, rng):
    i, t = _some_tensor(m, rng, lambda t: t.shape is not None and len(t.shape) > 0)
    shape = [int(d) for d in t.shape]
    how = int(rng.integers(5))
    if how == 0:
        shape[int(rng.integers(len(shape)))] = int(_pick(rng, (0, -1, -3)))
    elif how == 1:
        shape[int(rng.integers(len(shape)))] = int(_pick(rng, ((1 << 31) - 1, 1 << 20, 65536)))
    elif how == 2:
        shape = shape + [1] if rng.random() < 0.5 else shape[1:] or [1]
    elif how == 3:
        k = int(rng.integers(len(shape)))
        shape[k] = max(1, shape[k] + int(_pick(rng, (-1, 1, 2))))
    else:
        shape = list(reversed(shape))
    t.shape = shape
    return f"tensor {i} shape -> {shape}"


def mut_buffer_index(m, rng):
    i, t = _some_tensor(m, rng)
    t.buffer = int(_pick(rng, (len(m.buffers), len(m.buffers) + 5, -1, 0,
                                int(rng.integers(len(m.buffers))))))
    return f"tensor {i} buffer -> {t.buffer}"


def mut_buffer_size(m, rng):
    k, b = _pick(rng, [(k, b) for k, b in enumerate(m.buffers) if b.data is not None and len(b.data) > 0]) \
        or (None, None)
    if b is None:
        return None
    data = np.asarray(b.data, dtype=np.uint8)
    b.data = data[:int(rng.integers(len(data)))] if rng.random() < 0.6 else \
        np.concatenate([data, rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8)])
    return f"buffer {k} -> {len(b.data)} bytes (was {len(data)})"


def mut_buffer_values(m, rng):
    """Benign: new constant values, same size (the engine must still match TFLM)."""
    k, b = _pick(rng, [(k, b) for k, b in enumerate(m.buffers) if b.data is not None and len(b.data) > 0]) \
        or (None, None)
    if b is None:
        return None
    data = np.asarray(b.data, dtype=np.uint8).copy()
    idx = rng.integers(0, len(data), size=max(1, len(data) // 16))
    data[idx] = rng.integers(0, 256, size=len(idx), dtype=np.uint8)
    b.data = data
    return f"buffer {k}: {len(idx)} bytes changed"


def mut_op_tensor_index(m, rng):
    k, op = _some_op(m, rng)
    n = len(_sg(m).tensors)
    field = "inputs" if rng.random() < 0.6 or not op.outputs else "outputs"
    vals = [int(v) for v in getattr(op, field)]
    j = int(rng.integers(len(vals)))
    vals[j] = int(_pick(rng, (n, n + 100, -1, -2, int(rng.integers(n)))))
    setattr(op, field, vals)
    return f"op {k} {field}[{j}] -> {vals[j]}"


def mut_cycle(m, rng):
    ops = _sg(m).operators
    k, op = _some_op(m, rng, lambda op: op.inputs is not None and len(op.inputs) > 0)
    later = ops[int(rng.integers(k, len(ops)))]
    op.inputs = [int(later.outputs[0])] + [int(v) for v in op.inputs[1:]]
    return f"op {k} reads the output of a later (or its own) op"


def mut_duplicate_output(m, rng):
    sg = _sg(m)
    if rng.random() < 0.5 and len(sg.operators) > 1:
        a, b = rng.choice(len(sg.operators), 2, replace=False)
        sg.operators[b].outputs = [int(sg.operators[a].outputs[0])]
        return f"op {b} writes op {a}'s output"
    sg.outputs = [int(v) for v in sg.outputs] * 2
    return "subgraph outputs repeated"


def mut_opcode(m, rng):
    if rng.random() < 0.5 and len(m.operatorCodes) > 1:
        k, op = _some_op(m, rng)
        op.opcodeIndex = int(_pick(rng, [j for j in range(len(m.operatorCodes)) if j != op.opcodeIndex]
                                   + [len(m.operatorCodes)]))
        return f"op {k} opcode index -> {op.opcodeIndex}"
    oc = _pick(rng, m.operatorCodes)
    code = int(_pick(rng, (0, 3, 9, 22, 25, 40, 150, 210, 127, 32)))
    oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)
    return f"an opcode -> builtin {code}"


def _quantized_tensor(m, rng):
    return _some_tensor(m, rng, lambda t: t.quantization is not None and t.quantization.scale is not None
                        and len(t.quantization.scale) > 0)


def mut_scale(m, rng):
    i, t = _quantized_tensor(m, rng) or (None, None)
    if t is None:
        return None
    scale = np.asarray(t.quantization.scale, dtype=np.float32).copy()
    scale[int(rng.integers(len(scale)))] = _pick(rng, BAD_SCALES)
    t.quantization.scale = scale
    return f"tensor {i} scale -> {scale[:4]}"


def mut_zero_point(m, rng):
    i, t = _quantized_tensor(m, rng) or (None, None)
    if t is None:
        return None
    zp = np.asarray(t.quantization.zeroPoint, dtype=np.int64).copy()
    zp[int(rng.integers(len(zp)))] = int(_pick(rng, (128, -129, 255, 1000, -40000, 7)))
    t.quantization.zeroPoint = zp
    return f"tensor {i} zero point -> {zp[:4]}"


def mut_channels(m, rng):
    i, t = _some_tensor(m, rng, lambda t: t.quantization is not None and t.quantization.scale is not None
                        and len(t.quantization.scale) > 1) or (None, None)
    if t is None:
        return None
    q = t.quantization
    if rng.random() < 0.5:
        q.scale, q.zeroPoint = q.scale[:-1], q.zeroPoint[:-1]
        return f"tensor {i}: one per-channel scale dropped"
    q.quantizedDimension = int(_pick(rng, (1, 2, 3, 7, -1)))
    return f"tensor {i}: quantized dimension -> {q.quantizedDimension}"


WINDOW_FIELDS = ("strideH", "strideW", "dilationHFactor", "dilationWFactor", "filterHeight", "filterWidth",
                 "padding", "fusedActivationFunction", "depthMultiplier", "axis", "beta", "keepDims")


def mut_options_value(m, rng):
    k, op = _some_op(m, rng, lambda op: op.builtinOptions is not None and any(
        hasattr(op.builtinOptions, f) for f in WINDOW_FIELDS)) or (None, None)
    if op is None:
        return None
    field = _pick(rng, [f for f in WINDOW_FIELDS if hasattr(op.builtinOptions, f)])
    if field == "beta":
        value = float(_pick(rng, (0.0, -1.0, float("nan"), float("inf"), 1e30)))
    elif field == "keepDims":
        value = not op.builtinOptions.keepDims
    elif field in ("padding", "fusedActivationFunction"):
        value = int(_pick(rng, (2, 7, 1, 0, 3, 5, 100)))
    else:
        value = int(_pick(rng, INT32_EXTREMES))
    setattr(op.builtinOptions, field, value)
    return f"op {k} {field} -> {value}"


def mut_options_type(m, rng):
    k, op = _some_op(m, rng)
    if rng.random() < 0.5 or op.builtinOptions is None:
        op.builtinOptions, op.builtinOptionsType = None, 0
        return f"op {k} options removed"
    j, other = _some_op(m, rng, lambda o: o.builtinOptions is not None
                        and type(o.builtinOptions) is not type(op.builtinOptions)) or (None, None)
    if other is None:
        return None
    op.builtinOptions, op.builtinOptionsType = other.builtinOptions, other.builtinOptionsType
    return f"op {k} takes op {j}'s {type(other.builtinOptions).__name__}"


def mut_dtype(m, rng):
    i, t = _some_tensor(m, rng)
    t.type = int(_pick(rng, (0, 1, 2, 3, 7, 9, 4, 60)))      # FLOAT32 FLOAT16 INT32 UINT8 INT16 INT8 INT64 ?
    return f"tensor {i} type -> {t.type}"


def mut_graph_io(m, rng):
    sg, n = _sg(m), len(_sg(m).tensors)
    field = "inputs" if rng.random() < 0.5 else "outputs"
    setattr(sg, field, [int(_pick(rng, (n, -1, int(rng.integers(n)))))])
    return f"subgraph {field} -> {getattr(sg, field)}"


def mut_version(m, rng):
    m.version = int(_pick(rng, (0, 2, 4, 99)))
    return f"schema version -> {m.version}"


def mut_int_constant(m, rng):
    """Shape-like int32 constants (paddings, axes, reshape shapes) get extreme values."""
    cands = [(i, t) for i, t in enumerate(_sg(m).tensors) if t.type == 2 and 0 < t.buffer < len(m.buffers)
             and m.buffers[t.buffer].data is not None and 0 < len(m.buffers[t.buffer].data) <= 64]
    i, t = _pick(rng, cands) or (None, None)
    if t is None:
        return None
    vals = np.frombuffer(np.asarray(m.buffers[t.buffer].data, dtype=np.uint8).tobytes(), dtype=np.int32).copy()
    vals[int(rng.integers(len(vals)))] = int(_pick(rng, (-1, -5, 1 << 20, (1 << 31) - 1, 4, 0)))
    m.buffers[t.buffer].data = np.frombuffer(vals.tobytes(), dtype=np.uint8)
    return f"int32 constant tensor {i} -> {vals[:8].tolist()}"


STRUCTURED = (mut_shape, mut_buffer_index, mut_buffer_size, mut_buffer_values, mut_op_tensor_index, mut_cycle,
              mut_duplicate_output, mut_opcode, mut_scale, mut_zero_point, mut_channels, mut_options_value,
              mut_options_type, mut_dtype, mut_graph_io, mut_version, mut_int_constant)


def pack(model) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def mutate(seed: bytes, rng) -> tuple[bytes, str]:
    """One mutant of `seed` and what was done to it."""
    r = rng.random()
    if r < 0.08:
        data = bytearray(seed)
        for _ in range(int(rng.integers(1, 9))):
            data[int(rng.integers(8, len(data)))] ^= 1 << int(rng.integers(8))
        return bytes(data), "byte flips"
    if r < 0.12:
        n = int(rng.integers(8, len(seed)))
        return seed[:n], f"truncated to {n} bytes"
    for _ in range(20):
        model = tflite_file.schema().ModelT.InitFromPackedBuf(bytearray(seed), 0)
        descriptions = []
        for _ in range(1 if rng.random() < 0.8 else 2):
            mutation = STRUCTURED[int(rng.integers(len(STRUCTURED)))]
            try:
                d = mutation(model, rng)
            except (TypeError, IndexError, ValueError):   # not applicable to this model
                d = None
            if d:
                descriptions.append(f"{mutation.__name__[4:]}: {d}")
        if descriptions:
            try:
                return pack(model), "; ".join(descriptions)
            except Exception:                               # a value the schema cannot hold
                continue
    return seed, "unchanged"


# ---- the property ----------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str          # one of OUTCOMES
    detail: str


class _Hang(Exception):
    pass


def _alarm(_sig, _frame):
    raise _Hang()


class Checker:
    """Runs mutants through export -> ASan/UBSan build -> run -> compare with TFLM."""

    def __init__(self, workdir: Path, samples: int = 6, timeout: int = 60):
        from firmware_gen import build, codegen
        self.workdir, self.samples, self.timeout = Path(workdir), samples, timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        runtime = sorted(codegen.RUNTIME_DIR.glob("*.c"))
        self.runtime_objects = build.compile_objects(
            runtime, self.workdir / "runtime_asan", include_dirs=[codegen.RUNTIME_DIR],
            flags=[*build.SANITIZE, "-g"], opt="-O1")
        self.count = 0

    def check(self, data: bytes) -> Outcome:
        from firmware_gen import build, codegen, host_run, tflm
        from pipeline import export
        self.count += 1
        work = self.workdir / f"m{self.count}"
        work.mkdir()
        path = work / "mutant.tflite"
        path.write_bytes(data)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(self.timeout)
        try:
            export.export(str(path), work / "export", prefix="m")
            engine = codegen.generate(path, work / "gen", "m")
        except EdgepipeError as exc:
            msg = str(exc)
            return Outcome("clean_error" if msg and "\n" not in msg else "bad_error", msg[:300])
        except _Hang:
            return Outcome("hang", "export did not finish")
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return Outcome("traceback", f"{type(exc).__name__}: {str(exc)[:160]} at "
                                        f"{Path(where.filename).name}:{where.lineno}")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
        try:
            binary = build.compile_host([engine.c_path, host_run.write_main(engine, work / "gen"),
                                         *self.runtime_objects], work / "engine",
                                        include_dirs=engine.include_dirs, sanitize=True, opt="-O1")
        except EdgepipeError as exc:
            return Outcome("werror", str(exc)[:300])
        model = tflite_file.read(path)
        x_t = model.main.tensors[model.main.inputs[0]]
        rng = np.random.default_rng(self.count)
        x = rng.integers(-128, 128, size=(self.samples, *x_t.shape[1:]), dtype=np.int8)
        try:
            proc = subprocess.run([str(binary)], input=x.tobytes(), capture_output=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            return Outcome("hang", "the generated engine did not finish")
        if proc.returncode < 0:
            return Outcome("signal", f"engine killed by signal {-proc.returncode}")
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            kind = "sanitizer" if ("Sanitizer" in err or "runtime error" in err) else "signal"
            return Outcome(kind, err.strip().splitlines()[-1][:300] if err.strip() else f"exit {proc.returncode}")
        ours = np.frombuffer(proc.stdout, dtype=np.int8)
        try:
            ref = tflm.run(data, x, where="mutant").outputs
        except EdgepipeError as exc:
            return Outcome("accepted_tflm_rejects", str(exc)[:300])
        ref = np.asarray(ref).astype(np.int8).reshape(-1)
        if ours.shape != ref.shape or not np.array_equal(ours, ref):
            n = int((ours != ref).sum()) if ours.shape == ref.shape else -1
            return Outcome("mismatch", f"{n} of {ref.size} output bytes differ")
        return Outcome("match", "")


def table(counts: dict) -> str:
    total = sum(counts.values())
    rows = ["| outcome | count |", "|---|---:|"]
    rows += [f"| {k} | {counts.get(k, 0)} |" for k in OUTCOMES]
    rows.append(f"| total | {total} |")
    return "\n".join(rows)

