/* Register-blocked int8 dot products for CONV_2D (1x1 straight from the input, other filters
 * through an im2col patch): EP_BLOCK_PX output pixels x EP_BLOCK_CH output channels per pass,
 * every accumulator in a register, every loaded operand used by several of them.
 *
 *   EP_KERNELS_DSP  2 pixels x 2 channels. Each pixel's patch is widened once to int16 pairs with
 *                   the input offset added (SXTAB16) and stored interleaved with the other pixel's,
 *                   so per 4 inputs the loop runs 2 LDR (weights), 4 SXTB16, 2 LDRD (patches) and
 *                   8 SMLAD: 16 MACs in 16 instructions (CMSIS-NN's arm_nn_mat_mult_kernel_s8_s16
 *                   idea; 4 accumulators + 4 patch words + 2 weight halves + pointers are all the
 *                   registers Thumb-2 has).
 *   EP_KERNELS_MVE  1 pixel x 4 channels. VMLADAVA.S8 takes int8 directly; the input offset is
 *                   folded out of the loop: sum w * (x + off) = sum w * x + off * sum w, and
 *                   bias + off * sum w is the layer's kernel_sums table (generation time). Per 16
 *                   inputs: 5 VLDRB + 4 VMLADAVA = 64 MACs in 9 instructions. The four results are
 *                   requantized as one vector (ep_requant4 below).
 *
 * Both give the same int32 sums as the portable loop (two's complement sums are associative; see
 * ep_simd.h for why the lanes are exact). Padding taps of an im2col patch hold -in_offset, so
 * w * (pad + in_offset) = 0 exactly as when the reference skips them; with the offset folded into
 * kernel_sums they add w * -in_offset, which kernel_sums' w * in_offset cancels. */
#ifndef EP_SIMD_BLOCK_H
#define EP_SIMD_BLOCK_H

#include "ep_simd.h"

#if EP_KERNELS_DSP
#define EP_BLOCK_PX 2
#define EP_BLOCK_CH 2
#define EP_BLOCK_FOLDS_OFFSET 0

typedef struct {
    int32_t n, n4;
    int32_t tail[EP_BLOCK_PX][3];       /* x + in_offset of the n % 4 last inputs */
    int32_t *wide;      /* the caller's n & ~3 words: per 4 inputs px0 (x0,x2), px0 (x1,x3), px1 .., px1 .. */
} ep_patches;

static inline void ep_patch_set(ep_patches *v, int32_t px, const int8_t *x, int32_t n, int32_t in_offset)
{
    const int32_t off2 = ep_offset_x2(in_offset);
    int32_t *d = v->wide + 2 * px;
    int32_t i;
    v->n = n;
    v->n4 = n & ~3;
    for (i = 0; i < v->n4; i += 4, d += 4) {
        const int32_t xv = ep_read_s8x4(x + i);
        EP_DSP_WIDEN_X(xv, off2, d[0], d[1]);
    }
    for (; i < n; ++i) {
        v->tail[px][i - v->n4] = (int32_t)x[i] + in_offset;
    }
}

/* One group of four inputs in the inline assembly below: both filters' next words (post-indexed
 * LDR: unaligned is fine) against both pixels' widened words (LDRD: the buffer is word aligned). */
#define EP_DSP_2X2_ASM                                   \
    "ldrd   %[p1a], %[p1b], [%[xw], #8]\n\t"             \
    "ldrd   %[p0a], %[p0b], [%[xw]], #16\n\t"            \
    "ldr    %[wa], [%[w0]], #4\n\t"                      \
    "sxtb16 %[wb], %[wa], ror #8\n\t"                    \
    "sxtb16 %[wa], %[wa]\n\t"                            \
    "smlad  %[a00], %[wa], %[p0a], %[a00]\n\t"           \
    "smlad  %[a00], %[wb], %[p0b], %[a00]\n\t"           \
    "smlad  %[a01], %[wa], %[p1a], %[a01]\n\t"           \
    "smlad  %[a01], %[wb], %[p1b], %[a01]\n\t"           \
    "ldr    %[wa], [%[w1]], #4\n\t"                      \
    "sxtb16 %[wb], %[wa], ror #8\n\t"                    \
    "sxtb16 %[wa], %[wa]\n\t"                            \
    "smlad  %[a10], %[wa], %[p0a], %[a10]\n\t"           \
    "smlad  %[a10], %[wb], %[p0b], %[a10]\n\t"           \
    "smlad  %[a11], %[wa], %[p1a], %[a11]\n\t"           \
    "smlad  %[a11], %[wb], %[p1b], %[a11]\n\t"

/* acc[px * EP_BLOCK_CH + ch] += filter w[ch] . patch px (n = v->n bytes each).
 * The loop is written in assembly: in C, gcc 12 spills the loop bound and reloads patch words
 * (22 instructions per 16 MACs); here 4 accumulators, 4 patch words, 2 weight halves, 3 pointers
 * and the bound are exactly the 14 registers there are, and two groups per iteration make it
 * 34 instructions per 32 MACs. */
static inline void ep_block_dot(const ep_patches *v, const int8_t *const *w, int32_t *acc)
{
    const int8_t *w0 = w[0], *w1 = w[1];
    const int32_t *xw = v->wide;
    const int32_t n4 = v->n4, n8 = v->n & ~7;
    int32_t a00 = acc[0], a10 = acc[1], a01 = acc[2], a11 = acc[3], i;
    int32_t p0a, p0b, p1a, p1b, wa, wb;
    if (n8 > 0) {
        const int32_t *const xend = xw + n8;
        __asm__ volatile("1:\n\t" EP_DSP_2X2_ASM EP_DSP_2X2_ASM
                         "cmp    %[xw], %[xend]\n\t"
                         "bne    1b\n\t"
                         : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                           [w0] "+r"(w0), [w1] "+r"(w1), [xw] "+r"(xw), [p0a] "=&r"(p0a), [p0b] "=&r"(p0b),
                           [p1a] "=&r"(p1a), [p1b] "=&r"(p1b), [wa] "=&r"(wa), [wb] "=&r"(wb)
                         : [xend] "r"(xend)
                         : "cc", "memory");
    }
    if (n8 < n4) {
        __asm__ volatile(EP_DSP_2X2_ASM
                         : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                           [w0] "+r"(w0), [w1] "+r"(w1), [xw] "+r"(xw), [p0a] "=&r"(p0a), [p0b] "=&r"(p0b),
                           [p1a] "=&r"(p1a), [p1b] "=&r"(p1b), [wa] "=&r"(wa), [wb] "=&r"(wb)
                         :
                         : "memory");
    }
    for (i = 0; i < v->n - n4; ++i) {
        const int32_t f0 = w0[i], f1 = w1[i], x0 = v->tail[0][i], x1 = v->tail[1][i];
        a00 += f0 * x0;
        a01 += f0 * x1;
        a10 += f1 * x0;
        a11 += f1 * x1;
    }
    acc[0] = a00;
    acc[1] = a10;
    acc[2] = a01;
    acc[3] = a11;
}
#endif

#if EP_KERNELS_MVE
#define EP_BLOCK_PX 1
#define EP_BLOCK_CH 4
#define EP_BLOCK_FOLDS_OFFSET 1

typedef struct {
    const int8_t *x;
    int32_t n;
} ep_patches;

static inline void ep_patch_set(ep_patches *v, int32_t px, const int8_t *x, int32_t n, int32_t in_offset)
{
    (void)px;
    (void)in_offset;
    v->x = x;
    v->n = n;
}

/* sum w[ch] * x over the patch, four filters at once, as one vector (lane = channel) */
static inline int32x4_t ep_block_dot4(const ep_patches *v, const int8_t *const *w)
{
    const int8_t *x = v->x, *w0 = w[0], *w1 = w[1], *w2 = w[2], *w3 = w[3];
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, n = v->n;
    int32x4_t r;
    for (; n >= 16; n -= 16, x += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16) {
        const int8x16_t xv = vldrbq_s8(x);
        a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w0));
        a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1));
        a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2));
        a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3));
    }
    if (n > 0) {
        /* inactive lanes load 0 and touch no memory */
        const mve_pred16_t p = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, p);
        a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, p));
        a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, p));
        a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, p));
        a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, p));
    }
    r = vdupq_n_s32(a0);
    r = vsetq_lane_s32(a1, r, 1);
    r = vsetq_lane_s32(a2, r, 2);
    return vsetq_lane_s32(a3, r, 3);
}

/* ep_mbqm + output offset + clamp on four lanes, stored as int8 to o[0..nc-1] (nc <= 4).
 * VQRDMULH is gemmlowp's SaturatingRoundingDoublingHighMul (floor((2ab + 2^31) / 2^32), saturating
 * INT32_MIN * INT32_MIN). RoundingDivideByPOT rounds half away from zero, VRSHL half up: one is
 * subtracted from negative inputs first (CMSIS-NN's arm_divide_by_power_of_two_mve); the
 * saturating subtract only changes INT32_MIN, whose shifted result is the same either way. */
static inline void ep_requant4(int32x4_t acc, const int32_t *mult, const int32_t *shift, int32_t out_offset,
                               int32_t act_min, int32_t act_max, int8_t *o, int32_t nc)
{
    const mve_pred16_t p = vctp32q((uint32_t)nc);
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t sh = vldrwq_z_s32(shift, p), m = vldrwq_z_s32(mult, p);
    const int32x4_t right = vminq_s32(sh, zero);                 /* -(right shift) */
    int32x4_t v = vshlq_s32(acc, vmaxq_s32(sh, zero));
    v = vqrdmulhq_s32(v, m);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, right), 31));
    v = vrshlq_s32(v, right);
    v = vaddq_n_s32(v, out_offset);
    v = vmaxq_s32(v, vdupq_n_s32(act_min));
    v = vminq_s32(v, vdupq_n_s32(act_max));
    vstrbq_p_s32(o, v, p);
}

/* ep_requant4 for four full lanes: no predicate, so no VPST/VMSR around the loads and store */
static inline void ep_requant4_full(int32x4_t acc, const int32_t *mult, const int32_t *shift, int32_t out_offset,
                                    int32_t act_min, int32_t act_max, int8_t *o)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t sh = vldrwq_s32(shift), m = vldrwq_s32(mult);
    const int32x4_t right = vminq_s32(sh, zero);
    int32x4_t v = vshlq_s32(acc, vmaxq_s32(sh, zero));
    v = vqrdmulhq_s32(v, m);
    v = vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, right), 31));
    v = vrshlq_s32(v, right);
    v = vaddq_n_s32(v, out_offset);
    v = vmaxq_s32(v, vdupq_n_s32(act_min));
    v = vminq_s32(v, vdupq_n_s32(act_max));
    vstrbq_s32(o, v);
}
#endif

#endif /* EP_SIMD_BLOCK_H */
