"""Row-streamed execution: which ops run band by band, so that only a few rows of a large
intermediate tensor are ever in the arena (MCUNetV2's patch-based inference, by rows).

The analysis is pure (which ops, which rows); the emitters turn a group's whole-layer calls into
its band calls, each checked by codegen's bounds checks. Every band is an ordinary kernel call on a
sub-range of rows (its own input rows, padding and output rows), so every output value is the
same integer sum as in one whole call: bit-exact by construction, and each band's footprint is
bounds-checked like any call.

Two patterns, both common in the first, high-resolution stages of small CNNs:
- **pool bands**: a conv whose output only feeds a pool with non-overlapping windows (filter =
  stride, no padding): per pool output row, the conv computes the `stride` rows it needs into a band
  buffer and the pool reduces them.
- **residual rows**: conv A (x -> y1) -> conv B (y1 -> y2) -> ADD(x, y2), stride 1, where x dies at
  the ADD: per output row r, A computes the y1 rows B's window needs next into a window of y1 rows
  (sliding by a memmove), B computes y2 row r into a one-row buffer, and the ADD writes row r in
  place over x row r, which no later A row reads (checked row by row). Only x, the window and one
  row are live instead of x, y1 and y2.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from edgepipe_base.errors import EdgepipeError

from . import bounds, kernels, qmath
from .kernels import Call, CExpr, Shape4

BAND_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})
BAND_POOLS = frozenset({"MAX_POOL_2D", "AVERAGE_POOL_2D"})


@dataclass(frozen=True)
class Band:
    """Output rows [row, row + rows) of a sliding-window op computed from its input rows
    [lo, lo + in_h), with pad_h padding rows above row lo."""
    row: int
    rows: int
    lo: int
    in_h: int
    pad_h: int


@dataclass(frozen=True)
class Residual:
    """A row-streamed residual block (ops a, a + 1, a + 2). Per output row: the rows of y1 conv A
    adds to the window (None: none), B's band (its rows start the window), the window's first row
    before the step and how many of its rows stay (moved to the front when the first row changes)."""
    steps: tuple          # (row, Band of A or None, Band of B, window lo before, rows kept)
    window_rows: int


def _window(node, g):
    """(kh, stride_h, dilation_h, pad_h) of a conv or depthwise conv."""
    o, x = node.options, g.tensors[node.inputs[0]]
    kh = int(g.tensors[node.inputs[1]].shape[1])
    _, pad = qmath.padding(o.strideH, o.dilationHFactor, x.shape[1], kh, o.padding == kernels.SAME)
    return kh, o.strideH, o.dilationHFactor, pad


def rows_band(node, g, row: int, rows: int) -> Band:
    """The band of node computing its output rows [row, row + rows)."""
    kh, stride, dil, pad = _window(node, g)
    height = g.tensors[node.inputs[0]].shape[1]
    first = row * stride - pad
    last = (row + rows - 1) * stride - pad + (kh - 1) * dil
    lo, hi = max(first, 0), min(last, height - 1)
    return Band(row=row, rows=rows, lo=lo, in_h=hi - lo + 1, pad_h=lo - first)


def _readers(g) -> dict[int, int]:
    readers: dict[int, int] = {}
    for node in g.nodes:
        for i in node.inputs:
            if i >= 0:
                readers[i] = readers.get(i, 0) + 1
    return readers


def _plain(g, *tensors) -> bool:
    return all(g.tensors[t].dtype == "INT8" and len(g.tensors[t].shape) == 4 and g.tensors[t].shape[0] == 1
               and not g.tensors[t].is_constant for t in tensors)


def pool_bands(g) -> dict[int, list[Band]]:
    """Index of each conv that runs in bands with the pool after it -> its bands."""
    readers = _readers(g)
    out = {}
    for node, pool in zip(g.nodes, g.nodes[1:]):
        if node.opcode not in BAND_OPS or pool.opcode not in BAND_POOLS:
            continue
        t = node.outputs[0]
        if (pool.inputs[0] != t or readers.get(t) != 1 or t in g.outputs
                or not _plain(g, node.inputs[0], t, pool.outputs[0])):
            continue
        y, z, po = g.tensors[t], g.tensors[pool.outputs[0]], pool.options
        s = po.strideH
        _, pool_pad = qmath.padding(s, 1, y.shape[1], po.filterHeight, po.padding == kernels.SAME)
        if po.filterHeight != s or pool_pad != 0 or y.shape[1] != z.shape[1] * s or z.shape[1] < 2:
            continue
        bands = [rows_band(node, g, row, s) for row in range(0, y.shape[1], s)]
        if all(b.in_h >= 1 for b in bands):
            out[node.index] = bands
    return out


def residual_blocks(g) -> dict[int, Residual]:
    """Index of conv A of each residual block that runs row by row -> its schedule."""
    readers = _readers(g)
    producers = {o: n for n in g.nodes for o in n.outputs}
    out = {}
    for a, b, c in zip(g.nodes, g.nodes[1:], g.nodes[2:]):
        if a.opcode not in BAND_OPS or b.opcode not in BAND_OPS or c.opcode != "ADD":
            continue
        x, y1, y2 = a.inputs[0], a.outputs[0], b.outputs[0]
        if (b.inputs[0] != y1 or sorted(c.inputs) != sorted((x, y2)) or x == y2
                or readers.get(y1) != 1 or readers.get(y2) != 1 or readers.get(x) != 2
                or {x, y1, y2} & set(g.outputs) or x not in producers or producers[x].view
                or not _plain(g, x, y1, y2, c.outputs[0])):
            continue
        shapes = [g.tensors[t].shape for t in (x, y1, y2, c.outputs[0])]
        if shapes[0] != shapes[2] or shapes[2] != shapes[3] or shapes[1][1] != shapes[0][1]:
            continue
        if a.options.strideH != 1 or b.options.strideH != 1:
            continue
        height = shapes[0][1]
        a_pad = _window(a, g)[3]
        steps, have_lo, have_hi, ok, rows = [], 0, -1, True, 1
        for r in range(height):
            win = rows_band(b, g, r, 1)
            lo = win.lo
            # the ADD overwrites x row r: first compute every y1 row that reads it (rows up to
            # r + A's top padding), even before B's window needs them
            hi = min(height - 1, max(win.lo + win.in_h - 1, r + a_pad))
            if win.in_h < 1 or lo < have_lo or lo > have_hi + 1:
                ok = False
                break
            keep = max(have_hi - lo + 1, 0)
            a_band = rows_band(a, g, have_hi + 1, hi - have_hi) if hi > have_hi else None
            if (a_band is not None and a_band.in_h < 1) or (hi + 1 < height and hi + 1 - a_pad <= r):
                ok = False
                break
            steps.append((r, a_band, win, have_lo, keep))
            have_lo, have_hi = lo, max(have_hi, hi)
            rows = max(rows, have_hi - lo + 1)
        if ok and rows < height:
            out[a.index] = Residual(steps=tuple(steps), window_rows=rows)
    return out


# ---- emitting the calls (codegen passes its build context and bounds checker) ----

def _band_ptr(ctx, base: CExpr, offset: int) -> CExpr:
    """base + offset bytes, for an int8 pointer into the caller's input or the arena."""
    if offset == 0:
        return base
    if base.text == "input" or base.text in ctx.input_offset:
        at = ctx.input_offset.get(base.text, 0) + offset
        ptr = CExpr(f"input + {at}")
        ctx.input_offset[ptr.text] = at
    else:
        at = ctx.arena_offset[base.text] + offset
        ptr = CExpr(f"{ctx.prefix}_arena + {at}")
        ctx.arena_offset[ptr.text] = at
    ctx.itemsize[ptr.text] = 1
    return ptr


class _Streamed:
    """The calls of one row-streamed group, as C statements, with their parameter structs
    (bands sharing parameters share one) and bounds checks."""

    def __init__(self, node, ctx, check):
        self.node, self.ctx, self.check = node, ctx, check
        self.structs, self.names, self.lines, self.checks = [], {}, [], []

    def call(self, kernel_call, out: CExpr, key, tag: str, buffer_end: int | None = None):
        """Emit kernel_call writing to out; buffer_end: where out's buffer ends in the arena (a
        band must stay inside its buffer, not only inside the arena)."""
        ctx = self.ctx
        if key not in self.names:
            self.names[key] = f"{ctx.prefix}_l{self.node.index}_{tag}{len(self.names)}"
            self.structs.append(dict(struct_type=kernel_call.struct_type, name=self.names[key],
                                     field_lines=self.check.field_lines(kernel_call.fields)))
        self.checks += self.check(self.node, kernel_call, out)
        if buffer_end is not None:
            fp = bounds.footprint(kernel_call, {t.name: t.values for t in ctx.tables})
            if ctx.arena_offset[out.text] + fp.output > buffer_end:
                raise EdgepipeError(f"{ctx.g.path}: internal: a band of layer '{self.node.name}' overruns its buffer")
        self.lines.append(f"{kernel_call.function}(&{self.names[key]}, "
                          f"{', '.join(p.text for p in kernel_call.inputs)}, {out.text});")

    def move(self, dst: CExpr, src: CExpr, nbytes: int, buffer_end: int):
        """memmove inside one arena buffer (the sliding window of rows)."""
        a, b = self.ctx.arena_offset[dst.text], self.ctx.arena_offset[src.text]
        if max(a, b) + nbytes > buffer_end:
            raise EdgepipeError(f"{self.ctx.g.path}: internal: a window move of layer '{self.node.name}' overruns")
        self.checks.append(f"{max(a, b)} + {nbytes} <= sizeof({self.ctx.prefix}_arena)")
        self.lines.append(f"memmove({dst.text}, {src.text}, {nbytes});")

    def layer(self) -> dict:
        return dict(structs=self.structs, calls=self.lines, checks=list(dict.fromkeys(self.checks)))


def _with_rows(call, band, in_ptr: CExpr) -> Call:
    """A conv / depthwise call restricted to one band of output rows (streaming.Band)."""
    f = call.fields
    return dataclasses.replace(call, inputs=[in_ptr], fields=dict(
        f, in_=Shape4(1, band.in_h, f["in_"].w, f["in_"].c), out=Shape4(1, band.rows, f["out"].w, f["out"].c),
        pad_h=band.pad_h))


def _row_bytes(g, t) -> int:
    return g.tensors[t].nbytes // g.tensors[t].shape[1]


def pool_band_calls(node, call, pool, pool_call, bands_, ctx, check) -> dict:
    """The calls of pool_bands' pair (node, pool), given their whole-layer calls: per band, the conv on the input rows the band needs, into the band
    buffer, then the pool on the band, into its output row."""
    g = ctx.g
    in_row, z_row = _row_bytes(g, node.inputs[0]), _row_bytes(g, pool.outputs[0])
    band_ptr, z_ptr = ctx.ptr(node.outputs[0]), ctx.ptr(pool.outputs[0])
    band_end = ctx.arena_offset[band_ptr.text] + bands_[0].rows * _row_bytes(g, node.outputs[0])
    pf = pool_call.fields
    em = _Streamed(node, ctx, check)
    for b in bands_:
        em.call(_with_rows(call, b, _band_ptr(ctx, call.inputs[0], b.lo * in_row)), band_ptr,
                (b.in_h, b.pad_h), "band", band_end)
        red = dataclasses.replace(pool_call, inputs=[band_ptr], fields=dict(
            pf, in_=Shape4(1, b.rows, pf["in_"].w, pf["in_"].c), out=Shape4(1, 1, pf["out"].w, pf["out"].c)))
        em.call(red, _band_ptr(ctx, z_ptr, (b.row // b.rows) * z_row), "pool", "pool")
    return em.layer()


def residual_calls(a, calls, res, ctx, check) -> dict:
    """The calls of residual_blocks' block at a, given its three whole-layer calls: per output row, slide the window of y1 rows, compute the new y1
    rows (conv A), y2's row (conv B over the window), and the ADD's row over x's row."""
    g = ctx.g
    b, c = g.nodes[a.index + 1], g.nodes[a.index + 2]
    a_call, b_call, c_call = calls
    x, y1, y2 = a.inputs[0], a.outputs[0], b.outputs[0]
    x_ptr, win_ptr, row_ptr = ctx.ptr(x), ctx.ptr(y1), ctx.ptr(y2)
    if ctx.ptr(c.outputs[0]).text != x_ptr.text:
        raise EdgepipeError(f"{g.path}: internal: streamed ADD of layer '{c.name}' is not in place")
    x_row, y1_row, y2_row = _row_bytes(g, x), _row_bytes(g, y1), _row_bytes(g, y2)
    win_at = ctx.arena_offset[win_ptr.text]
    win_end, row_end = win_at + res.window_rows * y1_row, ctx.arena_offset[row_ptr.text] + y2_row
    cf = c_call.fields
    em = _Streamed(a, ctx, check)
    for r, a_band, win, prev_lo, keep in res.steps:
        if win.lo > prev_lo and keep > 0:
            em.move(win_ptr, _band_ptr(ctx, win_ptr, (win.lo - prev_lo) * y1_row), keep * y1_row, win_end)
        if a_band is not None:
            em.call(_with_rows(a_call, a_band, _band_ptr(ctx, x_ptr, a_band.lo * x_row)),
                    _band_ptr(ctx, win_ptr, (a_band.row - win.lo) * y1_row), (a_band.in_h, a_band.pad_h, a_band.rows),
                    "a", win_end)
        em.call(_with_rows(b_call, win, win_ptr), row_ptr, ("b", win.in_h, win.pad_h), "b", row_end)
        x_r = _band_ptr(ctx, x_ptr, r * x_row)
        # x, y2 and the output have one shape (residual_blocks): dense strides of one row
        dense = (cf["out"].w * cf["out"].c, cf["out"].w * cf["out"].c, cf["out"].c, 1)
        add = dataclasses.replace(c_call, inputs=[x_r if i == x else row_ptr for i in c.inputs],
                                  fields=dict(cf, out=Shape4(1, 1, cf["out"].w, cf["out"].c),
                                              in1_stride=dense, in2_stride=dense))
        em.call(add, x_r, "add", "add")
    return em.layer()
