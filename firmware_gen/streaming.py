"""Row-streamed execution: which ops run band by band, so that only a few rows of a large
intermediate tensor are ever in the arena (MCUNetV2's patch-based inference, by rows).

Pure graph analysis; codegen emits the calls. Every band is an ordinary kernel call on a
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

from dataclasses import dataclass

from . import kernels, qmath

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
