"""Filters of few-input-channel convolutions (KWS's 10x4x1 first conv, the 3x3x3 stems of image
models) laid out at generation time for the Cortex-M4/M7 stem kernel (ep_conv_stem_dsp in
runtime/ep_conv.c), which reads them only in the DSP build (the table is emitted under
`#if EP_KERNELS_DSP`; the other cores pay no flash for it).

The kernel widens each output pixel's patch once to int16 pairs x + in_offset (SXTAB16 on groups of
four taps: (t0, t2), (t1, t3)) and runs every pair of filters over four pixels at once with SMLAD.
Its filters are stored already widened, in those same pairs, and doubled: the accumulator is then
2 * (bias + sum), the operand SMMULR needs for the requantization (ep_dsp_rq), so the kernel never
shifts it. 2 * w fits int16 and the doubled sums fit int32 because the layer passes `dsp_rq_ok`
(|bias| + taps * 128 * 255 < 2^30).

The requantization per output is then SMMLAR, ADD, ASR, SSAT: with x = SMMULR(2a, m) and r the right
shift, ep_dsp_rq's (((x - [x < 0]) >> (r - 1)) + 2 * zp + 1) >> 1 equals (x + k - [x < 0]) >> r
with k = 2^(r - 1) + zp * 2^r (nested floors of halvings); SMMLAR adds k, and [x < 0] may be read
from the accumulator's sign instead: the two differ only where x is 0 (m >= 0), and there
(k - 1) >> r = k >> r = zp. Exact while |x + k| < 2^31: |x| <= 2^30, so |k| < 2^30 (`eligible`).

Tap order (`taps`): for each filter row, its kw * in_c bytes in groups of four from the row start;
then the rows' remaining (kw * in_c) % 4 bytes one after another, padded to a group of four with
taps of weight 0. Words per pixel: 2 * groups, at most MAX_WORDS (the kernel's unrolled loop). A
last group with one tap makes a last word of pad taps only: the table leaves it out and the kernel
runs one step fewer (`steps`)."""

from __future__ import annotations

import numpy as np

MAX_WORDS = 32          # EP_STEM_MAX_WORDS in runtime/ep_conv.c
MAX_IN_C = 4            # "few input channels": deeper inputs take the general DSP conv paths


def taps(kh: int, kw: int, in_c: int) -> list[int]:
    """Flat filter indices (fy * kw * in_c + fx * in_c + c) in the kernel's order; -1 pads."""
    run = kw * in_c
    full = run // 4 * 4
    order = [fy * run + i for fy in range(kh) for i in range(full)]
    left = [fy * run + i for fy in range(kh) for i in range(full, run)]
    return order + left + [-1] * (-len(left) % 4)


def words(kh: int, kw: int, in_c: int) -> int:
    """int32 words (int16 pairs) of one widened patch: the kernel's ep_stem_words."""
    run = kw * in_c
    return 2 * (kh * (run // 4) + (kh * (run % 4) + 3) // 4)


def steps(kh: int, kw: int, in_c: int) -> int:
    """Words the kernel multiplies (ep_stem_steps): all of them, less the last one where it holds
    pad taps only (the remaining bytes leave one tap in their last group: 3x3x1 filters). The
    patch buffer still holds that word; the table does not."""
    run = kw * in_c
    return words(kh, kw, in_c) - (1 if kh * (run % 4) % 4 == 1 else 0)


def dsp_rq_ok(bias, shift, taps_n: int) -> bool:
    """ep_dsp_rq_ok (runtime/ep_simd.h): right shifts 1..31 and |acc| < 2^30 for every input."""
    worst = int(np.abs(np.asarray(bias, np.int64)).max(initial=0)) if bias is not None else 0
    return all(-31 <= int(s) <= -1 for s in shift) and worst + taps_n * 128 * 255 < (1 << 30)


def rounding_offsets(shift, out_zp: int) -> list[int]:
    """k = 2^(r - 1) + zp * 2^r per channel, r = -shift (see the module doc)."""
    return [(1 << (-int(s) - 1)) + out_zp * (1 << -int(s)) for s in shift]


def eligible(kh, kw, in_c, filter_in_c, out_c, dil_w, bias, shift, out_zp) -> bool:
    """Layers the stem kernel takes (the kernel checks the same shape conditions again)."""
    return (filter_in_c == in_c and in_c <= MAX_IN_C and dil_w == 1 and out_c % 2 == 0 and out_c >= 4
            and words(kh, kw, in_c) <= MAX_WORDS and dsp_rq_ok(bias, shift, kh * kw * in_c)
            and all(abs(k) < (1 << 30) for k in rounding_offsets(shift, out_zp)))


def table(weights: np.ndarray, bias, mult, shift, out_zp: int) -> np.ndarray:
    """int32 table from conv weights [out_c, kh, kw, in_c] and the layer's requantization: per pair
    of filters (2p, 2p + 1): 2 * bias of both, then per word j < steps of the patch filter 2p's int16 pair
    and filter 2p + 1's pair (one LDRD; each pair (w[a], w[b]) doubled, a in the low half), then
    per filter of the pair its multiplier, right shift and rounding offset k (rounding_offsets)."""
    out_c, kh, kw, in_c = (int(d) for d in weights.shape)
    flat = np.concatenate([weights.reshape(out_c, -1).astype(np.int64) * 2,
                           np.zeros((out_c, 1), np.int64)], axis=1)     # index -1: the zero pad
    t = taps(kh, kw, in_c)
    pairs = [x for g in range(0, len(t), 4) for x in ((t[g], t[g + 2]), (t[g + 1], t[g + 3]))]
    lo = flat[:, [a for a, _ in pairs]] & 0xFFFF
    hi = flat[:, [b for _, b in pairs]] & 0xFFFF
    packed = ((hi << 16) | lo).astype(np.uint32).view(np.int32)[:, :steps(kh, kw, in_c)]   # [out_c, steps]
    b = np.zeros(out_c, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1)
    k = rounding_offsets(shift, out_zp)
    rows = []
    for p in range(0, out_c, 2):
        rows += [2 * b[p], 2 * b[p + 1]]
        rows += [int(v) for v in np.stack([packed[p], packed[p + 1]], axis=1).reshape(-1)]
        for c in (p, p + 1):
            rows += [mult[c], -int(shift[c]), k[c]]
    return np.array(rows, np.int64).astype(np.int32)


def table_words(kh: int, kw: int, in_c: int, out_c: int) -> int:
    """int32 entries of `table` (bounds.py checks the kernel's reads against it)."""
    return out_c // 2 * (8 + 2 * steps(kh, kw, in_c))
