"""Generation-time weight layout for the Cortex-M4/M7 (EP_KERNELS_DSP) CONV_2D kernel
ep_conv_pairs_dsp16 (runtime/ep_conv.c): one int32 word stream per layer, read front to back by a
single pointer, two output channels at a time. Word 0 says how the weights are stored: 16 (int16,
pre-widened and doubled) or 8 (int8, interleaved). Then per pair of output channels (c0, c1),
k = kh * kw * in_c (a multiple of 4):

    2*bias[c0], 2*bias[c0], 2*bias[c1], 2*bias[c1]           the four accumulators' start (one LDM;
                                                             int8: bias, not doubled)
    per group of 4 inputs i..i+3 (k / 4 groups), int16:
        (2w0[i], 2w0[i+2]) (2w0[i+1], 2w0[i+3]) (2w1[i], 2w1[i+2]) (2w1[i+1], 2w1[i+3])
                                                             int16 pairs, low lane first: the lane
                                                             order SXTAB16 gives the patch words
    or int8:
        bytes (w0[i], w1[i], w0[i+2], w1[i+2]) (w0[i+1], w1[i+1], w0[i+3], w1[i+3])
                                                             SXTB16 / SXTB16 ROR 8 split them
    mult[c0], C[c0], s[c0], mult[c1], C[c1], s[c1]           the requantization

The int16 weights and their bias are doubled so the accumulator holds 2 * acc, the operand SMMLAR
needs (SRDHM(a, m) = SMMULR(2a, m) when |a| < 2^30, see ep_dsp_rq in ep_simd.h); the int8 format
(bias as it is) doubles the accumulator with one LSL per output. s = -shift - 1 (the right shift r minus one)
and C = (2 * out_offset + 1) << s fold TFLM's rounding divide and the output offset into one SMMLAR
accumulator: per output ADD, SMMLAR, ASR, SSAT (proof in ep_conv.c).

Flash, on DSP builds only (emitted under `#if EP_KERNELS_DSP`; those builds then drop the layer's
int8 weights): int16 costs one more byte per weight than the int8 weights it replaces, int8 none;
both add 20 bytes per output channel. int16 saves 4 SXTB16 per 16 MACs, i.e. a quarter of an
instruction per MAC: per extra byte of flash npix / 4 instructions per inference (npix: the layer's
output pixels). Layers with fewer than INT16_MIN_PIXELS output pixels (MobileNet's last 3x3 layers:
98 KiB of int16 weights for ~0.2 M instructions) take the int8 format.
"""

from __future__ import annotations

import numpy as np

# largest k (kh * kw * in_c) ep_conv2d_dsp16 takes: its two widened patches are k words of stack
# (EP_COL_MAX in runtime/ep_conv.c)
K_MAX = 1024
# the requantization fold needs s + 9 bits of headroom: C = 257 << s and |x| < 2^30 fit int32
S_MAX = 21
# output pixels from which a layer's weights are stored as int16 (see the module doc)
INT16_MIN_PIXELS = 16


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


def stream(w: np.ndarray, bias, mult, shift, out_offset: int, wide: bool = True) -> np.ndarray:
    """The layer's int32 word stream (see the module doc); w is [out_c, kh, kw, in_c] int8; wide:
    int16 weights, else int8."""
    out_c = w.shape[0]
    k = int(np.prod(w.shape[1:]))
    b = np.zeros(out_c, np.int64) if bias is None else np.asarray(bias, np.int64).reshape(-1) * (2 if wide else 1)
    s = -np.asarray(shift, np.int64) - 1
    c = (2 * out_offset + 1) * (np.int64(1) << s)
    m = np.asarray(mult, np.int64)
    g = w.reshape(out_c // 2, 2, k // 4, 4).astype(np.int64)    # [pair, filter, group, input]
    if wide:
        # per filter and group the int16 pairs (x0, x2), (x1, x3); the pair's two filters in turn
        lo, hi = 2 * g[..., [0, 1]], 2 * g[..., [2, 3]]
        pairs = ((lo & 0xFFFF) | ((hi & 0xFFFF) << 16)).transpose(0, 2, 1, 3).reshape(out_c // 2, k)
    else:
        # per group the bytes (f0 x0, f1 x0, f0 x2, f1 x2), then the same for x1, x3
        u = g & 0xFF
        pairs = np.stack([u[:, 0, :, j] | (u[:, 1, :, j] << 8) | (u[:, 0, :, j + 2] << 16) | (u[:, 1, :, j + 2] << 24)
                          for j in (0, 1)], axis=2).reshape(out_c // 2, k // 2)
    head = np.repeat(b.reshape(out_c // 2, 2), 2, axis=1)
    tail = np.stack([m, c, s], axis=1).reshape(out_c // 2, 6)
    out = np.concatenate([[16 if wide else 8], np.concatenate([head, pairs, tail], axis=1).reshape(-1)])
    return ((out + 2 ** 31) % 2 ** 32 - 2 ** 31).astype(np.int32)


def words(out_c: int, k: int, wide: bool = True) -> int:
    """Length of the stream in int32 words (bounds.py's footprint of the table)."""
    return 1 + (out_c // 2) * ((k if wide else k // 2) + 10)
