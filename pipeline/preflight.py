"""Deployability rules for microcontrollers, as named checks.

Each rule is a small function whose docstring is the message the user reads ({details} is filled
in); it returns None when the rule holds and the details otherwise. docs/SUPPORTED.md is generated
from these docstrings (`edgepipe docs`), so the doc and the messages cannot drift apart.

Rules have a scope: "mcu" rules decide whether a variant can run on a microcontroller at all (with
TFLM), "engine" rules whether edgepipe's generated C engine runs it, "board" rules whether it fits
one board's flash and RAM.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from firmware_gen import tflm
from .artifacts import TFLiteVariant
from .op_types import BOUNDARY_OPS as BOUNDARY, op_types
from edgepipe_base.tflite_file import TFLiteModel
from edgepipe_base.tflite_types import numpy_dtype


@dataclass
class Context:
    variant: TFLiteVariant
    model: TFLiteModel
    tflm_error: str | None = None     # TFLM's own reason for refusing the model
    tflm_arena_bytes: int | None = None
    board: object | None = None       # firmware_gen.boards.Board: the fit rules apply when given
    needs: object | None = None       # firmware_gen.board_build.Needs, computed once per board


@dataclass(frozen=True)
class Finding:
    check: str
    scope: str          # mcu | engine | board
    details: str
    message: str


@dataclass
class Preflight:
    variant: str
    tflm_runs: bool
    tflm_arena_bytes: int | None
    findings: list[Finding] = field(default_factory=list)
    # what the C engine's outputs are held to: TFLM, or for models with Larq Compute Engine ops
    # (which TFLM has no kernels for) TFLM's kernels plus LCE's, op by op (firmware_gen/lce.py)
    reference: str = "tflm"

    @property
    def deployable(self) -> bool:
        """Runs on a microcontroller (with TFLM) and fits the board, when one was checked."""
        return not [f for f in self.findings if f.scope != "engine"]

    @property
    def engine_runs(self) -> bool:
        """edgepipe's generated C engine can run it (what host-c and every board target use)."""
        return self.deployable and not [f for f in self.findings if f.scope == "engine"]

    def reason(self, scopes=("mcu", "engine", "board")) -> str:
        """Short form for a table cell: which checks failed, with their details."""
        return "; ".join(f"{f.check}: {f.details}" for f in self.findings if f.scope in scopes)

    def to_json(self) -> dict:
        return {"variant": self.variant, "deployable": self.deployable, "engine_runs": self.engine_runs,
                "tflm_runs": self.tflm_runs, "tflm_arena_bytes": self.tflm_arena_bytes,
                "reference": self.reference,
                "findings": [{"check": f.check, "scope": f.scope, "details": f.details, "message": f.message}
                             for f in self.findings]}


RULES: list[tuple[Callable[[Context], str | None], str]] = []


def rule(scope: str):
    def register(fn):
        RULES.append((fn, scope))
        return fn
    return register


def message(fn, details: str) -> str:
    return " ".join(fn.__doc__.split()).format(details=details)


@rule("mcu")
def tflm_can_run(ctx: Context) -> str | None:
    """TFLM cannot run it: {details}. Use a full-integer int8 variant, or replace those layers."""
    if ctx.tflm_error is None:
        return None
    from firmware_gen import lce
    if lce.is_lce(ctx.model):
        return None     # binarized (Lce) ops: deployed by the C engine, which has their kernels
    sg = ctx.model.main
    missing = [w for w in ctx.tflm_error.replace(",", " ").split() if w.isupper() and len(w) > 2]
    layers = list(dict.fromkeys(op.layer_name(sg.tensors) for op in sg.operators if op.opcode in missing))
    return ctx.tflm_error + (f" (layers {', '.join(layers[:4])})" if layers else "")


@rule("mcu")
def integer_ops_only(ctx: Context) -> str | None:
    """Float or hybrid ops: {details}. An MCU build needs every op in int8 (or int16x8); quantize with
    a representative dataset and TFLITE_BUILTINS_INT8."""
    bad: dict[str, list[str]] = {}
    for t in op_types(ctx.model):
        if t.computes not in ("int8", "int16x8", "none") and not (t.op in BOUNDARY and t.computes == "float"):
            bad.setdefault(t.computes, []).append(f"{t.op}({t.layer})")
    if not bad:
        return None
    return "; ".join(f"{len(ops)} in {kind}: {', '.join(ops[:3])}{', ...' if len(ops) > 3 else ''}"
                     for kind, ops in bad.items())


@rule("mcu")
def integer_io(ctx: Context) -> str | None:
    """Float input or output ({details}): firmware feeds integer tensors and reads integer (int8, int16,
    uint8) tensors or the float output of a final DEQUANTIZE; convert with inference_input_type set to tf.int8."""
    i, o = ctx.variant.io_types
    sg = ctx.model.main
    dequantized = any(op.opcode == "DEQUANTIZE" and sg.outputs[0] in op.outputs for op in sg.operators)
    # uint8 output: an int8 model's final QUANTIZE to uint8 (microWakeWord's models end so)
    out_ok = o.startswith("int") or o == "uint8" or (o == "float32" and dequantized and i.startswith("int"))
    return None if i.startswith("int") and out_ok else f"input {i}, output {o}"


@rule("mcu")
def single_subgraph(ctx: Context) -> str | None:
    """More than one subgraph ({details}): control flow (IF/WHILE) is not supported by the C engine;
    unroll it in the model (a streaming model's CALL_ONCE init subgraphs are supported)."""
    inits = {int(op.builtin_options.initSubgraphIndex) for op in ctx.model.main.operators
             if op.opcode == "CALL_ONCE" and op.builtin_options is not None}
    n = len([k for k in range(1, len(ctx.model.subgraphs)) if k not in inits]) + 1
    return None if n == 1 else f"{n} subgraphs"


@rule("engine")
def c_engine_can_run(ctx: Context) -> str | None:
    """edgepipe's C engine cannot run it ({details}); TFLM can still run it on a microcontroller."""
    from firmware_gen import graph
    from edgepipe_base.errors import EdgepipeError
    missing = unsupported_ops(ctx.model)
    if missing:
        return f"no kernel for {sum(missing.values())} ops: " + \
            ", ".join(f"{op} ×{n}" for op, n in missing.items()) + " (see docs/SUPPORTED.md)"
    try:
        graph.load(ctx.variant.tflite_path)
    except EdgepipeError as exc:
        return str(exc).removeprefix(f"{ctx.variant.tflite_path}: ")
    return None


def unsupported_ops(model: TFLiteModel) -> dict[str, int]:
    """Every op of the model the C engine has no kernel for, with how often it occurs (most first)."""
    from collections import Counter
    from firmware_gen import kernels
    counts = Counter(op.opcode for sg in model.subgraphs for op in sg.operators
                     if op.opcode not in kernels.KERNELS)          # custom ops too: LCE's are there
    return dict(counts.most_common())


@rule("board")
def fits_flash(ctx: Context) -> str | None:
    """Model larger than the board's flash ({details}): prune, distill or quantize it further,
    or pick a board with more flash."""
    return _shortfall(ctx, "flash")


@rule("board")
def fits_ram(ctx: Context) -> str | None:
    """Model needs more RAM than the board has ({details}): use a smaller model or a board with
    more RAM."""
    return _shortfall(ctx, "ram")


def _shortfall(ctx: Context, memory: str) -> str | None:
    """needed vs available for one memory, from the numbers the firmware build checks."""
    b = ctx.board
    if b is None:
        return None
    if ctx.needs is None:
        from firmware_gen.board_build import tflite_needs
        ctx.needs = tflite_needs(b, ctx.variant.tflite_path)
    needed, has = getattr(ctx.needs, f"{memory}_bytes"), getattr(b, f"{memory}_bytes")
    if needed <= has:
        return None
    return f"needs {needed:,} B = {getattr(ctx.needs, f'{memory}_detail')}; {b.id} has {has:,} B"


def zero_input(model: TFLiteModel) -> np.ndarray:
    t = model.main.tensors[model.main.inputs[0]]
    return np.zeros((1, *t.shape[1:]), dtype=numpy_dtype(t.dtype))


def run(variant: TFLiteVariant, model: TFLiteModel, board=None) -> Preflight:
    """The mcu and engine rules on one variant (and the board rules when a board is given).

    TFLM itself is asked whether it can run the model."""
    ctx = Context(variant=variant, model=model)
    try:
        ctx.tflm_arena_bytes = tflm.run(model.data, zero_input(model), where=variant.name).arena_bytes
    except tflm.TFLMError as exc:
        ctx.tflm_error = str(exc).split("(", 1)[-1].rstrip(")") if "(" in str(exc) else str(exc)
    from firmware_gen import lce
    pre = Preflight(variant=variant.name, tflm_runs=ctx.tflm_error is None,
                    tflm_arena_bytes=ctx.tflm_arena_bytes, findings=_evaluate(ctx, ("mcu", "engine")),
                    reference="tflm+lce" if lce.is_lce(model) else "tflm")
    return pre if board is None else for_board(pre, variant, model, board)


def for_board(pre: Preflight, variant: TFLiteVariant, model: TFLiteModel, board) -> Preflight:
    """`pre` plus the board rules for `board` (TFLM is not asked again)."""
    ctx = Context(variant=variant, model=model, tflm_error=None if pre.tflm_runs else "refused",
                  tflm_arena_bytes=pre.tflm_arena_bytes, board=board)
    return Preflight(variant=pre.variant, tflm_runs=pre.tflm_runs, tflm_arena_bytes=pre.tflm_arena_bytes,
                     findings=[*pre.findings, *_evaluate(ctx, ("board",))], reference=pre.reference)


def _evaluate(ctx: Context, scopes) -> list[Finding]:
    findings = []
    for fn, scope in RULES:
        if scope in scopes:
            details = fn(ctx)
            if details is not None:
                findings.append(Finding(fn.__name__, scope, details, message(fn, details)))
    return findings


def rules_markdown() -> str:
    """The rules as a Markdown list, for docs/SUPPORTED.md."""
    return "\n".join(f"- **{fn.__name__}** ({scope}): {message(fn, '...')}" for fn, scope in RULES)
