"""Generation-time weight layout for the Cortex-M4/M7 (EP_KERNELS_DSP) CONV_2D kernel
ep_conv_pairs_dsp16 (runtime/ep_conv.c): one int32 word stream per layer, read front to back by a
single pointer, two output channels at a time.

Per pair of output channels (c0, c1), k = kh * kw * in_c (a multiple of 4):

    2*bias[c0], 2*bias[c0], 2*bias[c1], 2*bias[c1]           the four accumulators' start (one LDM)
    per group of 4 inputs i..i+3 (k / 4 groups):
        (2w0[i], 2w0[i+2]) (2w0[i+1], 2w0[i+3]) (2w1[i], 2w1[i+2]) (2w1[i+1], 2w1[i+3])
                                                             int16 pairs, low lane first: the lane
                                                             order SXTAB16 gives the patch words
    mult[c0], C[c0], s[c0], mult[c1], C[c1], s[c1]           the requantization

Weights and bias are doubled so the accumulator holds 2 * acc, the operand SMMLAR needs
(SRDHM(a, m) = SMMULR(2a, m) when |a| < 2^30, see ep_dsp_rq in ep_simd.h). s = -shift - 1 (the
right shift r minus one) and C = (2 * out_offset + 1) << s fold TFLM's rounding divide and the
output offset into one SMMLAR accumulator: per output ADD, SMMLAR, ASR, SSAT (proof in ep_conv.c).
The stream costs 2 bytes per weight plus 20 bytes per output channel of flash, on DSP builds only
(emitted under `#if EP_KERNELS_DSP`; those builds then drop the layer's int8 weights).
"""

from __future__ import annotations

import numpy as np

# largest k (kh * kw * in_c) ep_conv2d_dsp16 takes: its two widened patches are k words of stack
# (EP_COL_MAX in runtime/ep_conv.c)
K_MAX = 1024
# the requantization fold needs s + 9 bits of headroom: C = 257 << s and |x| < 2^30 fit int32
S_MAX = 21


def qualifies(w: np.ndarray, in_c: int, filter_in_c: int, bias, mult, shift, out_offset: int) -> bool:
    """Whether a CONV_2D layer can run the DSP int16 kernel bit-exactly: ungrouped, whole groups of
    four inputs per filter tap, an even number of filters, every channel's multiplier non-negative
    with a right shift of 1..S_MAX + 1, and |acc| < 2^30 so the doubled accumulator fits int32."""
    out_c = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    if filter_in_c != in_c or in_c % 4 or out_c % 2 or k > K_MAX or k == 0:
        return False
    if any(m < 0 or s > -1 or s < -(S_MAX + 1) for m, s in zip(mult, shift)):
        return False
    worst_bias = int(np.abs(np.asarray(bias, dtype=np.int64)).max(initial=0)) if bias is not None else 0
    return worst_bias + k * 128 * 255 < (1 << 30) and abs(2 * out_offset + 1) <= 257


def stream(w: np.ndarray, bias, mult, shift, out_offset: int) -> np.ndarray:
    """The layer's int32 word stream (see the module doc); w is [out_c, kh, kw, in_c] int8."""
    out_c = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    w2 = w.reshape(out_c, k).astype(np.int64) * 2
    b = np.zeros(out_c, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1) * 2
    s = -np.asarray(shift, np.int64) - 1
    c = (2 * out_offset + 1) * (np.int64(1) << s)
    m = np.asarray(mult, np.int64)
    # per filter: groups of 4 as the words (x0, x2), (x1, x3)
    g = w2.reshape(out_c, k // 4, 4)
    lo = g[:, :, [0, 1]]
    hi = g[:, :, [2, 3]]
    words = (lo & 0xFFFF) | ((hi & 0xFFFF) << 16)          # [out_c, k/4, 2]
    pairs = words.reshape(out_c // 2, 2, k // 4, 2).transpose(0, 2, 1, 3).reshape(out_c // 2, k)
    head = np.repeat(b.reshape(out_c // 2, 2), 2, axis=1)
    tail = np.stack([m, c, s], axis=1).reshape(out_c // 2, 6)
    out = np.concatenate([head, pairs, tail], axis=1).reshape(-1)
    return ((out + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)


def words(out_c: int, k: int) -> int:
    """Length of the stream in int32 words (bounds.py's footprint of the table)."""
    return (out_c // 2) * (k + 10)
