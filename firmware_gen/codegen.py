"""Render a .tflite into `<prefix>_model.c/.h`: constant tables, parameter structs, arena, invoke.

Generated code is data plus calls; the arithmetic lives in runtime/. The steps are linear:
graph.load -> plan the arena from buffer lifetimes -> build one kernel call per op -> render.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np

from edgepipe_base.atomic import write_atomic
from edgepipe_base.errors import EdgepipeError

from . import graph as graph_mod
from . import bounds, kernels, planner, qmath, streaming
from . import layout as layout_mod
from . import state as state_mod
from .kernels import CExpr, Shape4

RUNTIME_DIR = Path(__file__).parent / "runtime"
TEMPLATE_DIR = Path(__file__).parent / "templates"
NUMPY_CTYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "float32": "float"}
_PREFIX_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class GeneratedEngine:
    c_path: Path
    h_path: Path
    runtime_sources: list[Path]
    include_dirs: list[Path]
    prefix: str
    arena_bytes: int
    macs: int
    input_shape: tuple[int, ...]
    input_scale: float
    input_zero_point: int
    output_shape: tuple[int, ...]
    output_scale: float
    output_zero_point: int
    sha256: str
    layers: list = field(default_factory=list)   # (layer index, opcode, name, output tensor index)
    input_dtype: str = "int8"      # numpy names of the I/O element types: int8, int16 (int16x8),
    output_dtype: str = "int8"     # float32 after a final DEQUANTIZE, uint8 after a final QUANTIZE
    state_bytes: int = 0           # persistent state region (resource variables, variable tensors)

    @property
    def input_ctype(self) -> str:
        return NUMPY_CTYPES[self.input_dtype]

    @property
    def output_ctype(self) -> str:
        return NUMPY_CTYPES[self.output_dtype]
    layer_macs: list = field(default_factory=list)   # MACs of each entry of layers
    layout: str = layout_mod.DEFAULT                  # kernel tables: speed | size (layout.py)

    @property
    def sources(self) -> list[Path]:
        return [self.c_path, *self.runtime_sources]


C_TYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "int32_t": 4, "int64_t": 8, "uint32_t": 4, "float": 4}


@dataclass
class _Table:
    name: str
    ctype: str
    values: np.ndarray
    guard: str | None = None    # emitted only where this condition on ep_simd.h's EP_KERNELS_* holds
                                # (a null pointer elsewhere)

    @property
    def count(self) -> int:
        return max(len(self.values), 1)

    @property
    def itemsize(self) -> int:
        return C_TYPE_BYTES[self.ctype]

    @property
    def body(self) -> str:
        per_line = {"int8_t": 16, "int64_t": 4}.get(self.ctype, 8)
        fmt = c_float if self.ctype == "float" else (lambda v: str(int(v)))
        vals = [fmt(v) for v in self.values] or ["0"]
        return "\n".join("    " + ", ".join(vals[i:i + per_line]) + ","
                         for i in range(0, len(vals), per_line))


def c_float(x: float) -> str:
    """A float literal that round-trips through float32 and is valid C (`1.0f`, not `1f`)."""
    s = f"{float(np.float32(x)):.9g}"
    if not any(ch in s for ch in ".eEn"):
        s += ".0"
    return s + "f"


# C element type of each activation / constant tensor type the engine handles
CTYPES = {"INT8": "int8_t", "UINT8": "uint8_t", "INT16": "int16_t", "INT32": "int32_t", "INT64": "int64_t", "FLOAT32": "float"}


def c_value(v) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, CExpr):
        return v.text
    if isinstance(v, Shape4):
        return f"{{.n = {v.n}, .h = {v.h}, .w = {v.w}, .c = {v.c}}}"
    if isinstance(v, (tuple, list)):
        return "{" + ", ".join(c_value(x) for x in v) + "}"
    return str(int(v))


class _BuildContext:
    """What a kernel builder sees: tensors, C pointers to them, and a table registry."""

    def __init__(self, g, prefix, offsets, tables):
        self.g, self.prefix, self.offsets, self.tables = g, prefix, offsets, tables
        self.layer = 0
        self.itemsize: dict[str, int] = {}      # pointer expression -> element size of its tensor
        self.arena_offset: dict[str, int] = {}  # pointer expression -> its byte offset in the arena
        self.input_offset: dict[str, int] = {}  # pointer expression -> its byte offset in the input
        self.state_offset: dict[str, int] = {}  # pointer expression -> its byte offset in the state region

    def tensor(self, i):
        return self.g.tensors[i]

    def ptr(self, i) -> CExpr:
        """A pointer to tensor i, typed by its element type (int8_t or int16_t)."""
        t = self.g.tensors[i]
        if t.is_constant:
            data = t.data
            if data.dtype not in (np.int8, np.int16):
                raise EdgepipeError(f"constant tensor '{t.name}' is {t.dtype}; expected int8 or int16 data")
            return self.table(f"t{i}", CTYPES[t.dtype], data)
        if t.is_variable:
            ptr = self.state_ptr(self.g.state.tensor_offset(i), t.nbytes)
            if t.dtype != "INT8":
                ptr = CExpr(f"(({CTYPES[t.dtype]} *)(void *)({ptr.text}))")
                self.state_offset[ptr.text] = self.g.state.tensor_offset(i)
            self.itemsize[ptr.text] = t.nbytes // max(t.elements, 1)
            return ptr
        if self.offsets[i] == INPUT:
            ptr = CExpr("input")
        elif t.dtype != "INT16":    # int8; float (DEQUANTIZE) and packed int32 (Lce) bytes via int8_t *
            ptr = CExpr(f"{self.prefix}_arena + {self.offsets[i]}")
        else:
            # the planner keeps every offset 16-byte aligned, so 16-bit views of the arena are aligned
            ptr = CExpr(f"(({CTYPES[t.dtype]} *)(void *)({self.prefix}_arena + {self.offsets[i]}))")
        self.itemsize[ptr.text] = max(self.itemsize.get(ptr.text, 1), t.nbytes // max(t.elements, 1))
        if self.offsets[i] != INPUT:
            self.arena_offset[ptr.text] = self.offsets[i]
        return ptr

    def state_ptr(self, offset: int, nbytes: int) -> CExpr:
        """An int8_t pointer to byte `offset` of the state region (a variable's slot)."""
        ptr = CExpr(f"{self.prefix}_state + {offset}")
        self.state_offset[ptr.text] = offset
        self.itemsize[ptr.text] = 1
        return ptr

    def byte_ptr(self, i) -> str:
        """Tensor i's bytes as an int8_t pointer (for kernels that copy bytes: READ/ASSIGN_VARIABLE)."""
        t = self.g.tensors[i]
        if self.offsets.get(i) == INPUT:
            text = "input" if t.dtype == "INT8" else "(const int8_t *)(const void *)input"
            self.itemsize[text] = 1
            return text
        text = f"{self.prefix}_arena + {self.offsets[i]}"
        self.itemsize[text] = 1
        self.arena_offset[text] = self.offsets[i]
        return text

    def table(self, suffix, ctype, values, guard: str | None = None) -> CExpr:
        """A constant table; with `guard` (a condition on ep_simd.h's EP_KERNELS_* macros, such as
        "EP_KERNELS_DSP") only the builds whose kernel variant reads it hold it, the others see a
        null pointer."""
        name = f"{self.prefix}_l{self.layer}_{suffix}"
        if not any(t.name == name for t in self.tables):
            self.tables.append(_Table(name, ctype, np.asarray(values).reshape(-1), guard))
        return CExpr(name)


# Elementwise kernels that read element i before writing element i: the output may reuse an
# input's bytes when that input dies at this op (saves one activation in every residual block).
IN_PLACE_OPS = frozenset({"ADD", "MUL", "QUANTIZE", "LOGISTIC", "TANH"})
# Sliding-window kernels write output rows in order; once output row y is done, input rows above
# y*stride - pad are never read again. The output may therefore start `lag_bytes` below a dying
# input and overlap the rest of it (one input plus a few rows instead of two whole tensors).
LAG_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"})
INPUT = -1      # root of the caller's input buffer: read in place, never copied into the arena


def lag_bytes(node, g) -> int | None:
    """Smallest distance (16-byte aligned) the output may start below a dying input of node, or
    None when the op's row order does not allow overlapping (batch > 1)."""
    x, y = g.tensors[node.inputs[0]], g.tensors[node.outputs[0]]
    if len(x.shape) != 4 or x.shape[0] != 1 or y.shape[0] != 1:
        return None
    o = node.options
    kh = o.filterHeight if node.opcode.endswith("POOL_2D") else int(g.tensors[node.inputs[1]].shape[1])
    dil = 1 if node.opcode.endswith("POOL_2D") else o.dilationHFactor
    _, pad = qmath.padding(o.strideH, dil, x.shape[1], kh, o.padding == kernels.SAME)
    in_row, out_row = x.nbytes // x.shape[1], y.nbytes // y.shape[1]     # bytes per row
    # after writing output rows 0..yy the first input row still needed is (yy+1)*stride - pad;
    # while computing row yy the rows from yy*stride - pad on are read
    need = max((yy + 1) * out_row - max(0, yy * o.strideH - pad) * in_row for yy in range(y.shape[1]))
    return planner.align(max(need, 0))


def buffers(g, overlap: bool = True, banded: dict | None = None, residual: dict | None = None) -> tuple[list[planner.Buffer], dict[int, tuple[int, int]]]:
    """Arena buffers with lifetimes. Returns (buffers, place): place maps every activation tensor to
    (group, byte offset inside the group's buffer); group is INPUT for the caller's input buffer.
    Views and in-place outputs share their input's bytes; with overlap, LAG_OPS outputs overlap a
    dying input (which ties the tensors into one buffer: not always a smaller arena). `banded`
    (streaming.pool_bands) and `residual` (streaming.residual_blocks): row-streamed ops, whose
    streamed tensors hold a band or a window of rows and live across the whole group of ops."""
    n = len(g.nodes)
    banded, residual = banded or {}, residual or {}

    def row_bytes(t):
        return g.tensors[t].nbytes // g.tensors[t].shape[1]

    band_bytes = {g.nodes[i].outputs[0]: bs[0].rows * row_bytes(g.nodes[i].outputs[0]) for i, bs in banded.items()}
    streamed_ops = set(banded) | {i + 1 for i in banded}
    for i, res in residual.items():
        y1, y2 = g.nodes[i].outputs[0], g.nodes[i + 1].outputs[0]
        band_bytes[y1], band_bytes[y2] = res.window_rows * row_bytes(y1), row_bytes(y2)
        streamed_ops |= {i, i + 1}
    tlast = {o: n for o in g.outputs}
    for node in g.nodes:
        for i in node.inputs:
            if i >= 0 and g.tensors[i].in_arena:
                # a banded op reads its input until its pool's last band
                last = node.index + 1 if node.index in banded else node.index
                tlast[i] = max(tlast.get(i, last), last)

    for i in residual:          # the window and the row live until the ADD's last row
        tlast[g.nodes[i].outputs[0]] = tlast[g.nodes[i + 1].outputs[0]] = i + 2

    def nbytes(t):
        return band_bytes.get(t, g.tensors[t].nbytes)
    parent = {g.inputs[0]: (INPUT, 0)}       # tensor -> (tensor it lives in, offset relative to it)

    def r(t):
        """(group, offset of t relative to the group's own tensor)."""
        rel = 0
        while t in parent:
            t, d = parent[t]
            rel += d
            if t == INPUT:
                return INPUT, rel
        return t, rel

    def dies_here(group, node):
        return max(tlast.get(t, -1) for t in set(tlast) | set(parent) if r(t)[0] == group) == node.index

    first = {}
    for node in g.nodes:
        if not node.outputs or not g.tensors[node.outputs[0]].in_arena:
            continue                  # ASSIGN_VARIABLE / CALL_ONCE, VAR_HANDLE: nothing in the arena
        out = node.outputs[0]
        if node.view:
            parent[out] = (node.inputs[0], 0)
            continue
        candidates = []
        if node.index - 2 in residual:
            # the streamed ADD writes each row over x's row (streaming.residual_blocks)
            x = g.nodes[node.index - 2].inputs[0]
            if r(x)[0] == INPUT or not dies_here(r(x)[0], node):
                raise EdgepipeError(f"{g.path}: internal: streamed residual block at layer '{node.name}' "
                                    f"cannot write in place")
            parent[out] = (x, 0)
        elif node.index in streamed_ops:
            pass
        elif node.opcode in IN_PLACE_OPS:
            candidates = [(i, 0) for i in node.inputs
                          if i >= 0 and g.tensors[i].in_arena
                          and g.tensors[i].nbytes == g.tensors[out].nbytes]
        elif overlap and node.opcode in LAG_OPS and g.tensors[node.inputs[0]].in_arena:
            lag = lag_bytes(node, g)
            if lag is not None:
                candidates = [(node.inputs[0], -lag)]
        for i, delta in candidates:
            group = r(i)[0]
            if group != INPUT and dies_here(group, node):
                parent[out] = (i, delta)
                break
        for o in node.outputs:
            if o not in parent:
                # a streamed group's later ops write their rows from its first op's step on
                first[o] = (node.index - 1 if node.index - 1 in banded or node.index - 1 in residual
                            else node.index)
    members: dict[int, list[tuple[int, int]]] = {}
    for t in set(tlast) | set(parent) | set(first):
        group, rel = r(t)
        members.setdefault(group, []).append((t, rel))
    place, bufs = {}, []
    for group, ms in members.items():
        low = min(rel for _, rel in ms)
        for t, rel in ms:
            place[t] = (group, rel - low)
        if group == INPUT:
            continue
        size = max(rel - low + nbytes(t) for t, rel in ms)
        last = max(tlast.get(t, first[group]) for t, _ in ms)
        bufs.append(planner.Buffer(name=str(group), size=size, first=first[group], last=last))
    return sorted(bufs, key=lambda b: int(b.name)), place


def _bounds_checks(node, call, ctx, arena_bytes: int, input_bytes: int, out: CExpr | None = None) -> list[str]:
    """Check that the kernel's footprint (bounds.footprint, from its own parameters) stays inside
    every buffer it is handed; return the same facts as C constant expressions for the generated
    file's compile-time asserts. `out`: the output pointer when it is not node's output tensor."""
    tables = {t.name: t for t in ctx.tables}
    fp = bounds.footprint(call, {name: t.values for name, t in tables.items()})
    where = f"{ctx.g.path}: layer '{node.name}' ({node.opcode})"
    checks = []

    def within(ptr: CExpr, count: int, itemsize: int, what: str):
        nbytes = count * itemsize
        if ptr.text == "input":
            limit, c_limit, c_used = input_bytes, f"{ctx.prefix.upper()}_INPUT_BYTES", str(nbytes)
        elif ptr.text in ctx.input_offset:
            offset = ctx.input_offset[ptr.text]
            limit, c_limit, c_used = input_bytes - offset, f"{ctx.prefix.upper()}_INPUT_BYTES", f"{offset} + {nbytes}"
        elif ptr.text in ctx.arena_offset:
            offset = ctx.arena_offset[ptr.text]
            limit, c_limit, c_used = arena_bytes - offset, f"sizeof({ctx.prefix}_arena)", f"{offset} + {nbytes}"
        elif ptr.text in ctx.state_offset:
            offset = ctx.state_offset[ptr.text]
            limit, c_limit, c_used = ctx.g.state.bytes - offset, f"sizeof({ctx.prefix}_state)", f"{offset} + {nbytes}"
        elif ptr.text in tables:
            t = tables[ptr.text]
            limit, c_limit, c_used = t.count * t.itemsize, f"sizeof({t.name})", str(nbytes)
            if t.guard:         # a null pointer where the guard is false: nothing read there
                c_used = f"!{t.guard} || {nbytes}"
        else:
            raise EdgepipeError(f"{where}: internal: pointer {ptr.text} into no known buffer")
        if nbytes > limit:
            raise EdgepipeError(f"{where}: the kernel would touch {nbytes} bytes of {what} where "
                                f"{limit} are placed; the model's shapes disagree with its buffers")
        checks.append(f"({c_used} <= {c_limit})" if "||" in c_used else f"{c_used} <= {c_limit}")

    for k, (ptr, count) in enumerate(zip(call.inputs, fp.inputs)):
        within(ptr, count, ctx.itemsize.get(ptr.text, 1), f"input {k}")
    if len(fp.inputs) != len(call.inputs):
        raise EdgepipeError(f"{where}: internal: {len(call.inputs)} inputs, footprint of {len(fp.inputs)}")
    out = out or ctx.ptr(node.outputs[0])
    within(out, fp.output, ctx.itemsize.get(out.text, 1), "the output")
    for field_name, count in fp.tables.items():
        table = call.fields.get(field_name)
        if table is None:
            continue
        t = tables[table.text]
        within(table, count, t.itemsize, f"table {field_name}")
    return checks


def _checker(ctx, arena_bytes: int, input_bytes: int):
    """What streaming's emitter needs from here: bounds checks of a call with a given output
    pointer, and a parameter struct's field lines."""
    def check(node, call, out):
        return _bounds_checks(node, call, ctx, arena_bytes, input_bytes, out=out)
    check.field_lines = lambda fields: [f".{k.rstrip('_')} = {c_value(v)}" for k, v in fields.items()]
    return check


def engine_version() -> str:
    """EP_ENGINE_VERSION of the runtime the generated code calls (from ep_runtime.h)."""
    m = re.search(r'#define EP_ENGINE_VERSION "([^"]+)"', (RUNTIME_DIR / "ep_runtime.h").read_text())
    return m.group(1) if m else "unknown"


def _layer(node, call, ctx, arena_bytes, g, offsets, prefix) -> dict:
    """The template's view of one kernel call. A call writes one output tensor of the node (the
    first, or call.out_tensor), or, with call.output, a slot of the state region (no tensor: -1)."""
    tensor = call.out_tensor if call.out_tensor is not None else (node.outputs[0] if node.outputs else -1)
    if call.output is not None and (call.out_tensor is None or tensor < 0):
        out_ptr = call.output
    else:
        out_ptr = ctx.ptr(tensor)
    checks = _bounds_checks(node, call, ctx, arena_bytes, g.input.nbytes, out_ptr)
    out_ptr = out_ptr.text
    params = f"{prefix}_l{node.index}" + (f"_{tensor}" if call.out_tensor is not None else "")
    if call.output is not None and call.output.text.startswith(f"{prefix}_state"):
        tensor, out_bytes, out_shape = -1, 0, "state"
        where = f"state+{ctx.state_offset.get(out_ptr, 0)}"
    else:
        out = g.tensors[tensor]
        out_bytes, out_shape = out.nbytes, "x".join(map(str, out.shape))
        where = f"arena+{offsets[out.index]}"
    return dict(
        structs=None, calls=None, index=node.index, opcode=node.opcode, name=node.name.replace("*/", "* /"),
        struct_type=call.struct_type, params=params, function=call.function,
        field_lines=[f".{k.rstrip('_')} = {c_value(v)}" for k, v in call.fields.items()],
        inputs=[p.text for p in call.inputs], output=out_ptr,
        dump_ptr=out_ptr if tensor < 0 or g.tensors[tensor].dtype in ("INT8", "UINT8") else f"(const int8_t *)(const void *){out_ptr}",
        array_inputs=call.array_inputs, array_ctype=call.array_ctype, tensor=tensor, out_bytes=out_bytes, checks=checks,
        out_shape=out_shape, out_offset=where, macs=call.macs)


def generate(tflite_path, out_dir, prefix: str, banding: bool = True,
             layout: str = layout_mod.DEFAULT) -> GeneratedEngine:
    """Write `<prefix>_model.c/.h` into out_dir for the int8 or int16x8 model at tflite_path.
    `banding`: row-streamed plans (streaming.py) are candidates; off only to measure what they save.
    `layout`: "speed" or "size", the generation-time kernel tables (firmware_gen/layout.py)."""
    if not _PREFIX_RE.match(prefix):
        raise EdgepipeError(f"prefix '{prefix}' is not a C identifier; use letters, digits and _")
    layout_mod.check(layout)
    g = graph_mod.load(tflite_path)
    # overlapping sliding-window outputs usually wins, but it fuses lifetimes; streaming keeps a
    # group's input live for all its ops: keep the smallest plan (on a tie: whole calls, then overlap)
    streams = [({}, {})]
    if banding:
        streams += [(streaming.pool_bands(g), {}), (streaming.pool_bands(g), streaming.residual_blocks(g))]
    plans = []
    for k, (banded, residual) in enumerate(streams):
        for overlap in (True, False):
            try:
                b, p = buffers(g, overlap, banded, residual)
            except EdgepipeError:
                if k == 0:
                    raise
                continue        # a streamed plan that cannot be placed is simply not taken
            plans.append((planner.plan(b), p, banded, residual))
    plan, place, banded, residual = min(plans, key=lambda pp: pp[0].arena_bytes)
    offsets = {t: (INPUT if grp == INPUT else plan.offsets[str(grp)] + rel) for t, (grp, rel) in place.items()}

    tables: list[_Table] = []
    ctx = _BuildContext(g, prefix, offsets, tables)
    ctx.layout = layout
    layers, used_sources, macs = [], set(), 0
    for node in g.nodes:
        if node.index - 1 in banded or node.index - 1 in residual or node.index - 2 in residual:
            continue        # ran row by row with the streamed group's first op
        spec = kernels.KERNELS[node.opcode]
        ctx.layer = node.index
        built, source = kernels.build(spec, node, ctx)
        if built is None:
            continue
        used_sources.add(source)
        if node.index not in banded and node.index not in residual:
            for call in (built if isinstance(built, list) else [built]):
                macs += call.macs
                layers.append(_layer(node, call, ctx, plan.arena_bytes, g, offsets, prefix))
            continue
        call = built
        macs += call.macs
        opcode, last = node.opcode, node
        if node.index in banded:
            last = g.nodes[node.index + 1]
            ctx.layer = last.index
            pool_call, pool_source = kernels.build(kernels.KERNELS[last.opcode], last, ctx)
            ctx.layer = node.index
            used_sources.add(pool_source)
            opcode = f"{node.opcode}+{last.opcode}"
            banded_calls = streaming.pool_band_calls(node, call, last, pool_call, banded[node.index], ctx,
                                                     _checker(ctx, plan.arena_bytes, g.input.nbytes))
            checks = banded_calls["checks"]
        elif node.index in residual:
            group = g.nodes[node.index:node.index + 3]
            group_calls = [call]
            for other in group[1:]:
                ctx.layer = other.index
                other_call, other_source = kernels.build(kernels.KERNELS[other.opcode], other, ctx)
                used_sources.add(other_source)
                macs += other_call.macs
                group_calls.append(other_call)
            ctx.layer = node.index
            last = group[-1]
            opcode = "+".join(n.opcode for n in group)
            banded_calls = streaming.residual_calls(node, group_calls, residual[node.index], ctx,
                                                    _checker(ctx, plan.arena_bytes, g.input.nbytes))
            call = dataclasses.replace(call, macs=sum(c.macs for c in group_calls))
            checks = banded_calls["checks"]
        out = g.tensors[last.outputs[0]]
        out_ptr = ctx.ptr(last.outputs[0]).text
        layers.append(dict(
            structs=banded_calls.get("structs"), calls=banded_calls.get("calls"),
            index=node.index, opcode=opcode, name=node.name.replace("*/", "* /"),
            struct_type=call.struct_type, params=f"{prefix}_l{node.index}", function=call.function,
            field_lines=[f".{k.rstrip('_')} = {c_value(v)}" for k, v in call.fields.items()],
            inputs=[p.text for p in call.inputs], output=out_ptr,
            dump_ptr=out_ptr if out.dtype == "INT8" else f"(const int8_t *)(const void *){out_ptr}",
            array_inputs=call.array_inputs, array_ctype=call.array_ctype, tensor=out.index, out_bytes=out.nbytes, checks=checks,
            out_shape="x".join(map(str, out.shape)), out_offset=f"arena+{offsets[out.index]}", macs=call.macs))

    sv = g.state
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    x, y = g.input, g.output
    banner = (f"/* {prefix}_model: generated by edgepipe; do not edit.\n"
              f" * source: {Path(g.path).name} sha256={g.sha256}\n"
              f" * engine runtime: firmware_gen/runtime {engine_version()} */")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)), trim_blocks=True,
                             lstrip_blocks=True, keep_trailing_newline=True,
                             undefined=jinja2.StrictUndefined)
    values = dict(
        banner=banner, prefix=prefix, PREFIX=prefix.upper(), tables=tables, layers=layers,
        guards=sorted({m for t in tables if t.guard for m in re.findall(r"EP_KERNELS_\w+", t.guard)}),
        # variants for which a table is left out (replaced by one of theirs): the model must link them
        linked=sorted({m for t in tables if t.guard for m in re.findall(r"!\s*(EP_KERNELS_\w+)", t.guard)}),
        input_bytes=x.nbytes, output_bytes=y.nbytes, arena_bytes=plan.arena_bytes,
        arena_alloc=max(plan.arena_bytes, 16), macs=macs, sha256=g.sha256,
        input_scale=c_float(x.s), input_zero_point=x.zp, output_scale=c_float(y.s),
        output_zero_point=y.zp, input_shape=list(x.shape), output_shape=list(y.shape),
        output_src=ctx.ptr(y.index).text, layer_count=len(layers),
        input_ctype=CTYPES[x.dtype], output_ctype=CTYPES[y.dtype],
        state_bytes=sv.bytes, state_alloc=max(sv.bytes, 16), state_fills=state_mod.reset_fills(sv, g.tensors),
        state_resources=len(sv.sizes), state_tensors=len(sv.variable_tensors))
    c_path, h_path = out_dir / f"{prefix}_model.c", out_dir / f"{prefix}_model.h"
    write_atomic(h_path, env.get_template("model.h.j2").render(**values))
    write_atomic(c_path, env.get_template("model.c.j2").render(**values))
    return GeneratedEngine(
        c_path=c_path, h_path=h_path,
        runtime_sources=[RUNTIME_DIR / s for s in sorted(used_sources)],
        include_dirs=[out_dir, RUNTIME_DIR], prefix=prefix, arena_bytes=plan.arena_bytes, macs=macs,
        input_shape=tuple(x.shape), input_scale=x.s, input_zero_point=x.zp,
        output_shape=tuple(y.shape), output_scale=y.s, output_zero_point=y.zp, sha256=g.sha256,
        layers=[(l["index"], l["opcode"], l["name"], l["tensor"]) for l in layers],
        input_dtype=x.dtype.lower(), output_dtype=y.dtype.lower(),
        layer_macs=[l["macs"] for l in layers], state_bytes=sv.bytes, layout=layout)
