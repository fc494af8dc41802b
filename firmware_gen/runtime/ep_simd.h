/* The int8 inner loops of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED, in three variants that
 * return the same int32 accumulators bit for bit:
 *
 *   EP_KERNELS_MVE       Cortex-M55 Helium: VMLADAVA.S8 does 16 int8 MACs into a scalar.
 *   EP_KERNELS_DSP       Cortex-M4/M7/M33: SXTB16 widens two int8 to two int16, SMLAD does two
 *                        16x16 MACs (CMSIS-NN's read_and_pad / arm_nn_mat_mult idea).
 *   EP_KERNELS_PORTABLE  plain C99: the reference; host builds, Cortex-M0/M3, and any build with
 *                        -DEP_PORTABLE_KERNELS (used to measure the speed-up on the same board).
 *
 * Why the results are identical: every variant computes sum_i w[i] * (x[i] + in_offset) in int32
 * two's complement arithmetic, only grouped differently (integer addition is associative), and
 * every intermediate fits its lane: x + in_offset is in [-255, 255] (x and the zero point are
 * int8), so it is exact in an int16 lane, and w * (x + in_offset) fits in 16 bits + sign.
 * SMLAD and VMLADAVA wrap modulo 2^32 exactly like the int32 sums of the reference. */
#ifndef EP_SIMD_H
#define EP_SIMD_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if !defined(EP_PORTABLE_KERNELS) && defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define EP_KERNELS_MVE 1
#define EP_KERNELS_NAME "mve"
#include <arm_mve.h>
#elif !defined(EP_PORTABLE_KERNELS) && defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define EP_KERNELS_DSP 1
#define EP_KERNELS_NAME "dsp"
#include <arm_acle.h>
#else
#define EP_KERNELS_PORTABLE 1
#define EP_KERNELS_NAME "portable"
#endif

/* ---- portable reference ------------------------------------------------------------------- */
#if EP_KERNELS_PORTABLE

/* sum_i w[i] * (x[i] + in_offset), written as sum(w * x) + in_offset * sum(w): the same integer
 * (two's complement sums are associative), but a plain int8 dot product the compiler vectorizes. */
static inline int32_t ep_dot(const int8_t *w, const int8_t *x, int32_t n, int32_t in_offset)
{
    int32_t acc = 0, wsum = 0, i;
    for (i = 0; i < n; ++i) {
        acc += (int32_t)w[i] * (int32_t)x[i];
        wsum += w[i];
    }
    return acc + wsum * in_offset;
}

/* two filters against the same input run (the optimized variants share the input loads) */
static inline void ep_dot2(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n,
                           int32_t in_offset, int32_t *acc0, int32_t *acc1)
{
    *acc0 += ep_dot(w0, x, n, in_offset);
    *acc1 += ep_dot(w1, x, n, in_offset);
}

#endif

#if !EP_KERNELS_PORTABLE
/* ep_mbqm (+ output offset + clamp), branch-light, for the optimized kernels. Exact for every acc
 * when 0 <= mult < 2^31 (qmath.quantize_multiplier's range, so never gemmlowp's saturating
 * INT32_MIN * INT32_MIN case): the high product floor((a*mult + 2^30) / 2^31) is then >= -2^31 + 1,
 * so x - 1 for negative x cannot wrap, and rounding half away from zero of x / 2^r (r >= 1) is
 * rounding half up of (x - [x < 0]) / 2^r = (x' >> r) + bit r-1 of x', which cannot overflow. */
static inline int32_t ep_mbqm_fast(int32_t acc, int32_t mult, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : -shift;
    int32_t x = (int32_t)(((int64_t)(int32_t)((uint32_t)acc << left) * mult + ((int64_t)1 << 30)) >> 31);
    if (right > 0) {
        x += x >> 31;
        x = (x >> right) + ((x >> (right - 1)) & 1);
    }
    return x;
}

static inline int8_t ep_requant_fast(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset,
                                     int32_t act_min, int32_t act_max)
{
    int32_t x = ep_mbqm_fast(acc, mult, shift) + out_offset;
    x = x < act_min ? act_min : x;
    return (int8_t)(x > act_max ? act_max : x);
}
#endif

/* Depthwise: the in-image window of one output pixel, for ep_dw_accumulate. */
typedef struct {
    int32_t rows, cols;             /* in-image taps */
    int32_t x_col, x_row;           /* input stride per tap column / per tap row */
    int32_t w_col, w_row;           /* weight stride per tap column / per tap row */
    int32_t dm, in_offset;          /* depth multiplier: 1 or a multiple of 4 */
} ep_dw_window;

/* ---- Arm DSP extension (SMLAD) ------------------------------------------------------------- */
#if EP_KERNELS_DSP

/* four int8 from any address: LDR on v7-M/v8-M handles unaligned words, memcpy says so to gcc */
static inline int32_t ep_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* bytes 1 and 3 of v sign-extended to two int16 (b1 + a.lo, b3 + a.hi for the SXTAB16 form).
 * SXTB16 has a free ROR #8 operand that gcc 12 does not fold from a C rotate (it emits a
 * separate MOV ROR), hence the inline assembly, as in CMSIS-Core's __SXTB16_RORn. */
static inline int32_t ep_sxtb16_ror8(int32_t v)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

static inline int32_t ep_sxtab16_ror8(int32_t a, int32_t v)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(a), "r"(v));
    return r;
}

/* in_offset in both int16 lanes, for SXTAB16 */
static inline int32_t ep_offset_x2(int32_t in_offset)
{
    return (int32_t)(((uint32_t)in_offset & 0xFFFFu) | ((uint32_t)in_offset << 16));
}

/* bytes 0,2 and 1,3 of x as int16 pairs with in_offset added (SXTAB16): the pairing of both
 * operands of SMLAD only has to agree, so neither side is reordered back. */
#define EP_DSP_WIDEN_X(xv, off2, x02, x13)                 \
    do {                                                   \
        (x02) = __sxtab16((off2), (xv));                   \
        (x13) = ep_sxtab16_ror8((off2), (xv));            \
    } while (0)

static inline int32_t ep_dot(const int8_t *w, const int8_t *x, int32_t n, int32_t in_offset)
{
    const int32_t off2 = ep_offset_x2(in_offset);
    int32_t acc = 0;
    for (; n >= 4; n -= 4, w += 4, x += 4) {
        const int32_t wv = ep_read_s8x4(w), xv = ep_read_s8x4(x);
        int32_t x02, x13;
        EP_DSP_WIDEN_X(xv, off2, x02, x13);
        acc = __smlad(__sxtb16(wv), x02, acc);
        acc = __smlad(ep_sxtb16_ror8(wv), x13, acc);
    }
    for (; n > 0; --n) {
        acc += (int32_t)*w++ * ((int32_t)*x++ + in_offset);
    }
    return acc;
}

static inline void ep_dot2(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n,
                           int32_t in_offset, int32_t *acc0, int32_t *acc1)
{
    const int32_t off2 = ep_offset_x2(in_offset);
    int32_t a0 = *acc0, a1 = *acc1;
    for (; n >= 4; n -= 4, w0 += 4, w1 += 4, x += 4) {
        const int32_t xv = ep_read_s8x4(x), wv0 = ep_read_s8x4(w0), wv1 = ep_read_s8x4(w1);
        int32_t x02, x13;
        EP_DSP_WIDEN_X(xv, off2, x02, x13);
        a0 = __smlad(__sxtb16(wv0), x02, a0);
        a0 = __smlad(ep_sxtb16_ror8(wv0), x13, a0);
        a1 = __smlad(__sxtb16(wv1), x02, a1);
        a1 = __smlad(ep_sxtb16_ror8(wv1), x13, a1);
    }
    for (; n > 0; --n) {
        const int32_t xo = (int32_t)*x++ + in_offset;
        a0 += (int32_t)*w0++ * xo;
        a1 += (int32_t)*w1++ * xo;
    }
    *acc0 = a0;
    *acc1 = a1;
}

/* ---- DSP requantization in a few instructions (layers that pass ep_dsp_rq_ok) ----------------
 * TFLM's MultiplyByQuantizedMultiplier for right shifts r = -shift >= 1, written for SMMULR and SSAT:
 *   SRDHM(a, m) = floor((a * m + 2^30) / 2^31) = floor((2a * m + 2^31) / 2^32) = SMMULR(2a, m)
 * exactly when 2a fits in int32 (|a| < 2^30, checked per layer from the bias and the tap count:
 * |acc| <= max|bias| + taps * 128 * 255) and m >= 0 (never gemmlowp's saturating case).
 *   RoundingDivideByPOT(x, r) = floor((t + 1) / 2), t = (x - [x < 0]) >> (r - 1) (see ep_mbqm_fast),
 * and floor((t + 1) / 2) + out_offset = (t + 1 + 2 * out_offset) >> 1, which SSAT #8 shifts and
 * saturates in one instruction (the activation range lies inside int8, so clamping to int8 first
 * changes nothing). r - 1 = ~shift. |x| < 2^30, so nothing here overflows. */
static inline int ep_dsp_rq_ok(const int32_t *bias, const int32_t *shift, int32_t n, int32_t taps)
{
    int64_t worst = 0;
    int32_t c;
    for (c = 0; c < n; ++c) {
        const int64_t b = bias != NULL ? (int64_t)bias[c] : 0;
        if (shift[c] > -1 || shift[c] < -31) {
            return 0;
        }
        worst = b < 0 ? (-b > worst ? -b : worst) : (b > worst ? b : worst);
    }
    return worst + (int64_t)taps * 128 * 255 < ((int64_t)1 << 30);
}

/* floor((a * b + 2^31) / 2^32) */
static inline int32_t ep_smmulr(int32_t a, int32_t b)
{
    int32_t x;
    __asm__("smmulr %0, %1, %2" : "=r"(x) : "r"(a), "r"(b));
    return x;
}

/* one output before the activation clamp: int8 (sign-extended in an int32); off2p1 = 2 * out_offset + 1 */
static inline int32_t ep_dsp_rq(int32_t acc, int32_t mult, int32_t shift, int32_t off2p1)
{
    int32_t x = ep_smmulr((int32_t)((uint32_t)acc << 1), mult);
    x += x >> 31;
    x = (x >> ~shift) + off2p1;
    return __ssat(x >> 1, 8);
}

/* four int8 values (in int32s) into the bytes of one word, v0 lowest */
static inline uint32_t ep_pack_s8x4(int32_t v0, int32_t v1, int32_t v2, int32_t v3)
{
    uint32_t r = (uint32_t)v0;
    __asm__("bfi %0, %1, #8, #8\n\t"
            "bfi %0, %2, #16, #8\n\t"
            "bfi %0, %3, #24, #8"
            : "+r"(r)
            : "r"(v1), "r"(v2), "r"(v3));
    return r;
}

/* the activation clamp on four int8 lanes: lo4/hi4 hold act_min/act_max in every byte
 * (SSUB8 sets a lane's GE flag when the signed difference is >= 0, SEL picks by it) */
static inline uint32_t ep_clamp_s8x4(uint32_t v, uint32_t lo4, uint32_t hi4)
{
    uint32_t t;
    __asm__("ssub8 %1, %0, %2\n\t"
            "sel   %0, %0, %2\n\t"
            "ssub8 %1, %3, %0\n\t"
            "sel   %0, %0, %3"
            : "+r"(v), "=&r"(t)
            : "r"(lo4), "r"(hi4)
            : "cc");
    return v;
}

/* the larger / smaller of each signed byte lane of a and b (SSUB8 sets a lane's GE flag where its
 * difference is >= 0, SEL picks by it): max pooling, and a clamp on one side only */
static inline uint32_t ep_max_s8x4(uint32_t a, uint32_t b)
{
    uint32_t t;
    __asm__("ssub8 %1, %0, %2\n\t"
            "sel   %0, %0, %2"
            : "+r"(a), "=&r"(t)
            : "r"(b)
            : "cc");
    return a;
}

static inline uint32_t ep_min_s8x4(uint32_t a, uint32_t b)
{
    uint32_t t;
    __asm__("ssub8 %1, %2, %0\n\t"
            "sel   %0, %0, %2"
            : "+r"(a), "=&r"(t)
            : "r"(b)
            : "cc");
    return a;
}

static inline uint32_t ep_bytes4(int32_t v)
{
    return 0x01010101u * (uint8_t)v;
}

/* An input vector met by many filters (an im2col patch, a fully-connected input): widened once to
 * x + in_offset in int16 pairs, in the lane order SXTB16 gives the weights ((x0, x2), (x1, x3) per
 * group of four), so each filter word costs one load, two SXTB16 and two SMLAD and the input side
 * costs only loads (CMSIS-NN's q7 -> q15 "reordered with offset" buffer). */
#define EP_VEC_MAX 1024
typedef struct {
    const int8_t *x;                    /* the int8 vector; its n % 4 tail is used from here */
    int32_t n, in_offset;
    int32_t *wide;                      /* the caller's storage: n / 2 words */
} ep_vec;

static inline void ep_vec_prepare(ep_vec *v, const int8_t *x, int32_t n, int32_t in_offset)
{
    const int32_t off2 = ep_offset_x2(in_offset);
    int32_t i;
    v->x = x;
    v->n = n;
    v->in_offset = in_offset;
    for (i = 0; i + 4 <= n; i += 4) {
        const int32_t xv = ep_read_s8x4(x + i);
        EP_DSP_WIDEN_X(xv, off2, v->wide[i / 2], v->wide[i / 2 + 1]);
    }
}

static inline void ep_vec_dot2(const ep_vec *v, const int8_t *w0, const int8_t *w1,
                               int32_t *acc0, int32_t *acc1)
{
    const int32_t *xw = v->wide;
    const int32_t n4 = v->n & ~3, n8 = v->n & ~7;
    int32_t a0 = *acc0, a1 = *acc1, i;
    /* eight bytes per iteration: the loop's compare, branch and pointer update are then a sixth
     * of the work instead of a quarter */
    for (i = 0; i < n8; i += 8, xw += 4) {
        int32_t wv0 = ep_read_s8x4(w0 + i), wv1 = ep_read_s8x4(w1 + i);
        a0 = __smlad(__sxtb16(wv0), xw[0], a0);
        a0 = __smlad(ep_sxtb16_ror8(wv0), xw[1], a0);
        a1 = __smlad(__sxtb16(wv1), xw[0], a1);
        a1 = __smlad(ep_sxtb16_ror8(wv1), xw[1], a1);
        wv0 = ep_read_s8x4(w0 + i + 4);
        wv1 = ep_read_s8x4(w1 + i + 4);
        a0 = __smlad(__sxtb16(wv0), xw[2], a0);
        a0 = __smlad(ep_sxtb16_ror8(wv0), xw[3], a0);
        a1 = __smlad(__sxtb16(wv1), xw[2], a1);
        a1 = __smlad(ep_sxtb16_ror8(wv1), xw[3], a1);
    }
    for (; i < n4; i += 4, xw += 2) {
        const int32_t wv0 = ep_read_s8x4(w0 + i), wv1 = ep_read_s8x4(w1 + i);
        const int32_t x02 = xw[0], x13 = xw[1];
        a0 = __smlad(__sxtb16(wv0), x02, a0);
        a0 = __smlad(ep_sxtb16_ror8(wv0), x13, a0);
        a1 = __smlad(__sxtb16(wv1), x02, a1);
        a1 = __smlad(ep_sxtb16_ror8(wv1), x13, a1);
    }
    for (; i < v->n; ++i) {
        const int32_t xo = (int32_t)v->x[i] + v->in_offset;
        a0 += (int32_t)w0[i] * xo;
        a1 += (int32_t)w1[i] * xo;
    }
    *acc0 = a0;
    *acc1 = a1;
}

static inline int32_t ep_vec_dot(const ep_vec *v, const int8_t *w)
{
    const int32_t *xw = v->wide;
    const int32_t n4 = v->n & ~3;
    int32_t a = 0, i;
    for (i = 0; i < n4; i += 4, xw += 2) {
        const int32_t wv = ep_read_s8x4(w + i);
        a = __smlad(__sxtb16(wv), xw[0], a);
        a = __smlad(ep_sxtb16_ror8(wv), xw[1], a);
    }
    for (; i < v->n; ++i) {
        a += (int32_t)w[i] * ((int32_t)v->x[i] + v->in_offset);
    }
    return a;
}

/* acc[c] = sum over the window's taps of w[oc0 + c] * (x[(oc0 + c) / dm] + in_offset), c < nc,
 * four output channels per pass with the accumulators in registers: one word of weights is two
 * SXTB16 and four SMLAxy (16x16 MACs into separate accumulators). x and w point at the first
 * in-image tap. */
#define EP_DW_LANES 4
/* not inlined: on its own the loop keeps its 4 accumulators and 2 input lanes in registers;
 * inlined into the depthwise driver, gcc 12 spills them inside the tap loop */
__attribute__((noinline, unused)) static void ep_dw_accumulate(int32_t *acc, const int8_t *x, const int8_t *w,
                                    const ep_dw_window *win, int32_t oc0, int32_t nc)
{
    const int32_t off = win->in_offset, dm = win->dm;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, r, c;
    if (nc < EP_DW_LANES) {
        /* channel tail: the word loads below would read past the block */
        for (c = 0; c < nc; ++c) {
            int32_t a = 0;
            for (r = 0; r < win->rows; ++r) {
                const int8_t *xp = x + r * win->x_row + (oc0 + c) / dm;
                const int8_t *wp = w + r * win->w_row + oc0 + c;
                int32_t k;
                for (k = 0; k < win->cols; ++k) {
                    a += (int32_t)wp[k * win->w_col] * ((int32_t)xp[k * win->x_col] + off);
                }
            }
            acc[c] = a;
        }
        return;
    }
    w += oc0;
    if (dm == 1) {
        const int32_t off2 = ep_offset_x2(off);
        x += oc0;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                const int32_t xv = ep_read_s8x4(xp), wv = ep_read_s8x4(wp);
                const int32_t w02 = __sxtb16(wv), w13 = ep_sxtb16_ror8(wv);
                int32_t x02, x13;
                EP_DSP_WIDEN_X(xv, off2, x02, x13);
                a0 = __smlabb(w02, x02, a0);
                a2 = __smlatt(w02, x02, a2);
                a1 = __smlabb(w13, x13, a1);
                a3 = __smlatt(w13, x13, a3);
            }
        }
    } else {
        /* dm % 4 == 0 and oc0 % 4 == 0: the four channels share one input value per tap */
        x += oc0 / dm;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                const int32_t xs = (int32_t)*xp + off, wv = ep_read_s8x4(wp);
                const int32_t w02 = __sxtb16(wv), w13 = ep_sxtb16_ror8(wv);
                a0 = __smlabb(w02, xs, a0);
                a2 = __smlatb(w02, xs, a2);
                a1 = __smlabb(w13, xs, a1);
                a3 = __smlatb(w13, xs, a3);
            }
        }
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

#endif

/* ---- Arm MVE (Helium) ---------------------------------------------------------------------- */
#if EP_KERNELS_MVE

/* sum(w * x) + in_offset * sum(w), 16 lanes at a time; the tail is a predicated load whose
 * inactive lanes read as zero (and touch no memory), so it adds nothing to either sum. */
static inline int32_t ep_dot(const int8_t *w, const int8_t *x, int32_t n, int32_t in_offset)
{
    int32_t acc = 0, wsum = 0;
    for (; n >= 16; n -= 16, w += 16, x += 16) {
        const int8x16_t wv = vldrbq_s8(w);
        acc = vmladavaq_s8(acc, wv, vldrbq_s8(x));
        wsum = vaddvaq_s8(wsum, wv);
    }
    if (n > 0) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        const int8x16_t wv = vldrbq_z_s8(w, p);
        acc = vmladavaq_s8(acc, wv, vldrbq_z_s8(x, p));
        wsum = vaddvaq_s8(wsum, wv);
    }
    return acc + wsum * in_offset;
}

static inline void ep_dot2(const int8_t *w0, const int8_t *w1, const int8_t *x, int32_t n,
                           int32_t in_offset, int32_t *acc0, int32_t *acc1)
{
    int32_t a0 = 0, a1 = 0, s0 = 0, s1 = 0;
    for (; n >= 16; n -= 16, w0 += 16, w1 += 16, x += 16) {
        const int8x16_t xv = vldrbq_s8(x), wv0 = vldrbq_s8(w0), wv1 = vldrbq_s8(w1);
        a0 = vmladavaq_s8(a0, wv0, xv);
        s0 = vaddvaq_s8(s0, wv0);
        a1 = vmladavaq_s8(a1, wv1, xv);
        s1 = vaddvaq_s8(s1, wv1);
    }
    if (n > 0) {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        const int8x16_t xv = vldrbq_z_s8(x, p), wv0 = vldrbq_z_s8(w0, p), wv1 = vldrbq_z_s8(w1, p);
        a0 = vmladavaq_s8(a0, wv0, xv);
        s0 = vaddvaq_s8(s0, wv0);
        a1 = vmladavaq_s8(a1, wv1, xv);
        s1 = vaddvaq_s8(s1, wv1);
    }
    *acc0 += a0 + s0 * in_offset;
    *acc1 += a1 + s1 * in_offset;
}

/* ep_mbqm on four lanes with one multiplier and shift: VQRDMULH is gemmlowp's
 * SaturatingRoundingDoublingHighMul; RoundingDivideByPOT rounds half away from zero, VRSHL half
 * up, so one is subtracted from negative lanes first (CMSIS-NN's arm_divide_by_power_of_two_mve;
 * the saturating subtract only changes INT32_MIN, whose shifted result is the same either way). */
static inline int32x4_t ep_mbqm4(int32x4_t x, int32_t mult, int32_t shift)
{
    const int32x4_t right = vdupq_n_s32(shift > 0 ? 0 : shift);       /* minus the right shift */
    x = vshlq_s32(x, vdupq_n_s32(shift > 0 ? shift : 0));
    x = vqrdmulhq_n_s32(x, mult);
    x = vqaddq_s32(x, vshrq_n_s32(vandq_s32(x, right), 31));
    return vrshlq_s32(x, right);
}

/* An input vector met by many filters: VMLADAVA takes int8 directly, so nothing to prepare. */
#define EP_VEC_MAX 1024
typedef struct {
    const int8_t *x;
    int32_t n, in_offset;
} ep_vec;

static inline void ep_vec_prepare(ep_vec *v, const int8_t *x, int32_t n, int32_t in_offset)
{
    v->x = x;
    v->n = n;
    v->in_offset = in_offset;
}

static inline void ep_vec_dot2(const ep_vec *v, const int8_t *w0, const int8_t *w1,
                               int32_t *acc0, int32_t *acc1)
{
    ep_dot2(w0, w1, v->x, v->n, v->in_offset, acc0, acc1);
}

static inline int32_t ep_vec_dot(const ep_vec *v, const int8_t *w)
{
    return ep_dot(w, v->x, v->n, v->in_offset);
}

/* acc[c] = sum over the window's taps of w[oc0 + c] * (x[(oc0 + c) / dm] + in_offset), c < nc,
 * up to eight output channels per pass in two int32x4 accumulators (MVE has no int8 vector-by-vector
 * multiply-accumulate into int32 lanes; widening loads + VMUL + VADD is what CMSIS-NN's
 * depthwise kernel does too). Tail lanes are predicated off: their loads read nothing and give 0. */
/* not inlined: keeps the 16-lane loop's registers free of this pass's predicates */
__attribute__((noinline, unused)) static void ep_dw_accumulate8(int32_t *acc, const int8_t *x, const int8_t *w,
                                    const ep_dw_window *win, int32_t oc0, int32_t nc)
{
    const int32_t off = win->in_offset, dm = win->dm;
    const mve_pred16_t p0 = vctp32q((uint32_t)nc), p1 = vctp32q((uint32_t)(nc > 4 ? nc - 4 : 0));
    int32x4_t a0 = vdupq_n_s32(0), a1 = vdupq_n_s32(0);
    int32_t r, c;
    w += oc0;
    if (dm == 1 && off == 0) {
        /* the offset is folded into the caller's kernel sums (a window without padding taps) */
        x += oc0;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                a0 = vaddq_s32(a0, vmulq_s32(vldrbq_z_s32(xp, p0), vldrbq_z_s32(wp, p0)));
                a1 = vaddq_s32(a1, vmulq_s32(vldrbq_z_s32(xp + 4, p1), vldrbq_z_s32(wp + 4, p1)));
            }
        }
    } else if (dm == 1) {
        x += oc0;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                a0 = vaddq_s32(a0, vmulq_s32(vaddq_n_s32(vldrbq_z_s32(xp, p0), off), vldrbq_z_s32(wp, p0)));
                a1 = vaddq_s32(a1, vmulq_s32(vaddq_n_s32(vldrbq_z_s32(xp + 4, p1), off),
                                             vldrbq_z_s32(wp + 4, p1)));
            }
        }
    } else {
        /* dm % 4 == 0: each group of four lanes shares one input value per tap (a scalar VMLA);
         * a switched-off second group reuses the first one's channel, its weights are zero */
        const int32_t i0 = oc0 / dm, i1 = nc > 4 ? (oc0 + 4) / dm : i0;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                a0 = vmlaq_n_s32(a0, vldrbq_z_s32(wp, p0), (int32_t)xp[i0] + off);
                a1 = vmlaq_n_s32(a1, vldrbq_z_s32(wp + 4, p1), (int32_t)xp[i1] + off);
            }
        }
    }
    vstrwq_s32(acc, a0);
    vstrwq_s32(acc + 4, a1);
}

/* As ep_dw_accumulate8 for up to 16 channels: a full block of 16 takes unpredicated loads into
 * four accumulators (half the passes over the window, no VPST per load); partial blocks take
 * the predicated 8-lane pass. */
#define EP_DW_LANES 16
static inline void ep_dw_accumulate(int32_t *acc, const int8_t *x, const int8_t *w,
                                    const ep_dw_window *win, int32_t oc0, int32_t nc)
{
    const int32_t off = win->in_offset, dm = win->dm;
    int32x4_t a0 = vdupq_n_s32(0), a1 = vdupq_n_s32(0), a2 = vdupq_n_s32(0), a3 = vdupq_n_s32(0);
    int32_t r, c;
    if (nc < 16) {
        ep_dw_accumulate8(acc, x, w, win, oc0, nc < 8 ? nc : 8);
        if (nc > 8) {
            ep_dw_accumulate8(acc + 8, x, w, win, oc0 + 8, nc - 8);
        }
        return;
    }
    w += oc0;
    if (dm == 1 && off == 0) {
        x += oc0;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                a0 = vaddq_s32(a0, vmulq_s32(vldrbq_s32(xp), vldrbq_s32(wp)));
                a1 = vaddq_s32(a1, vmulq_s32(vldrbq_s32(xp + 4), vldrbq_s32(wp + 4)));
                a2 = vaddq_s32(a2, vmulq_s32(vldrbq_s32(xp + 8), vldrbq_s32(wp + 8)));
                a3 = vaddq_s32(a3, vmulq_s32(vldrbq_s32(xp + 12), vldrbq_s32(wp + 12)));
            }
        }
    } else if (dm == 1) {
        x += oc0;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                a0 = vaddq_s32(a0, vmulq_s32(vaddq_n_s32(vldrbq_s32(xp), off), vldrbq_s32(wp)));
                a1 = vaddq_s32(a1, vmulq_s32(vaddq_n_s32(vldrbq_s32(xp + 4), off), vldrbq_s32(wp + 4)));
                a2 = vaddq_s32(a2, vmulq_s32(vaddq_n_s32(vldrbq_s32(xp + 8), off), vldrbq_s32(wp + 8)));
                a3 = vaddq_s32(a3, vmulq_s32(vaddq_n_s32(vldrbq_s32(xp + 12), off), vldrbq_s32(wp + 12)));
            }
        }
    } else {
        const int32_t i0 = oc0 / dm, i1 = (oc0 + 4) / dm, i2 = (oc0 + 8) / dm, i3 = (oc0 + 12) / dm;
        for (r = 0; r < win->rows; ++r) {
            const int8_t *xp = x + r * win->x_row, *wp = w + r * win->w_row;
            for (c = 0; c < win->cols; ++c, xp += win->x_col, wp += win->w_col) {
                a0 = vmlaq_n_s32(a0, vldrbq_s32(wp), (int32_t)xp[i0] + off);
                a1 = vmlaq_n_s32(a1, vldrbq_s32(wp + 4), (int32_t)xp[i1] + off);
                a2 = vmlaq_n_s32(a2, vldrbq_s32(wp + 8), (int32_t)xp[i2] + off);
                a3 = vmlaq_n_s32(a3, vldrbq_s32(wp + 12), (int32_t)xp[i3] + off);
            }
        }
    }
    vstrwq_s32(acc, a0);
    vstrwq_s32(acc + 4, a1);
    vstrwq_s32(acc + 8, a2);
    vstrwq_s32(acc + 12, a3);
}

#endif

#endif /* EP_SIMD_H */
