"""Static arena planning: one offset per intermediate buffer, from buffer lifetimes.

Pure: takes (name, size, first op, last op) and returns offsets. Buffers are placed largest first;
each goes into the smallest gap (best fit) between the buffers already placed whose lifetimes
overlap its own, or on top of them. Views (RESHAPE) never reach the planner: the caller merges an
alias into its source buffer and extends the lifetime.
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGNMENT = 16


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int
    first: int      # index of the op that writes it (-1: live before the first op)
    last: int       # index of the last op that reads it (inclusive)


@dataclass(frozen=True)
class Plan:
    offsets: dict
    arena_bytes: int


def align(n: int, alignment: int = ALIGNMENT) -> int:
    return (n + alignment - 1) // alignment * alignment


def overlaps(a: Buffer, b: Buffer) -> bool:
    return a.first <= b.last and b.first <= a.last


def plan(buffers, alignment: int = ALIGNMENT) -> Plan:
    order = sorted(buffers, key=lambda b: (-b.size, b.first, b.name))
    placed: list[tuple[int, Buffer]] = []
    offsets = {}
    for buf in order:
        size = align(buf.size, alignment)
        busy = sorted((off, off + align(other.size, alignment)) for off, other in placed
                      if overlaps(buf, other))
        best, best_gap, cursor = None, None, 0
        for start, end in busy:
            gap = start - cursor
            if gap >= size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, end)
        offset = best if best is not None else cursor
        offsets[buf.name] = offset
        placed.append((offset, buf))
    arena = max((off + align(b.size, alignment) for off, b in placed), default=0)
    return Plan(offsets=offsets, arena_bytes=arena)


def lower_bound(buffers) -> int:
    """The most bytes simultaneously live at any op: no plan can use less."""
    buffers = list(buffers)
    times = sorted({b.first for b in buffers} | {b.last for b in buffers})
    return max((sum(b.size for b in buffers if b.first <= t <= b.last) for t in times), default=0)
