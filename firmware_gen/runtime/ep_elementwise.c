/* ADD, MUL (with broadcasting), QUANTIZE (int8 requantize), PAD and CONCATENATION. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_simd.h"

#include <stddef.h>
#include <string.h>

/* 1 when the input's strides are the dense layout of the output shape (no broadcasting) */
static int ep_dense_strides(const int32_t *st, const ep_shape4 *s)
{
    return st[3] == 1 && st[2] == s->c && st[1] == s->w * s->c && st[0] == s->h * s->w * s->c;
}

#if EP_KERNELS_DSP
/* floor((a * b + 2^31) / 2^32) + acc (SMMLAR: exact, the accumulator is the high word) */
static inline int32_t ep_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t x;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(x) : "r"(a), "r"(b), "r"(acc));
    return x;
}

/* TFLM's int8 ADD (left shift 20), every MultiplyByQuantizedMultiplier in a few instructions:
 *   SRDHM(v << 20, m) = SMMULR(v << 21, m) exactly (|v << 21| < 2^29, m >= 0, see ep_dsp_rq), and
 *   RoundingDivideByPOT(x, r) = (x + 2^(r-1) - [x < 0]) >> r, where SMMLAR adds the 2^(r-1) for
 *   free and [x < 0] may be read from the operand's sign: the two differ only where x is 0, and
 *   there (2^(r-1) - 1) >> r = 2^(r-1) >> r = 0.
 * The output's rescale folds in the output offset the same way: (x + k - [x < 0]) >> r with
 * k = 2^(r-1) + out_offset * 2^r is RoundingDivideByPOT(x, r) + out_offset (exact while
 * |x + k| < 2^31: |x| < 2^29 here and |k| < 2^30 is checked), then SSAT saturates to int8. An
 * input whose shift is 0 (multiplier 0.5: the input with the larger scale) only multiplies.
 * Per element: two LDRSB, the two input rescales (ADD of the shifted byte, SMMLAR, ADD, ASR each),
 * ADD, LSL, SMMLAR, ADD, ASR, SSAT, STRB. Returns the elements done: size, or 0 where the layer's
 * numbers are outside what this arithmetic covers (the caller's loops then run). */
__attribute__((noinline)) static int32_t ep_add_dsp(const ep_binary_params *p, const int8_t *in1,
                                                    const int8_t *in2, int8_t *out, int32_t size)
{
    const int32_t s1 = p->in1_shift, s2 = p->in2_shift, so = p->out_shift;
    const int32_t m1 = p->in1_mult, m2 = p->in2_mult, mo = p->out_mult, lo = p->act_min, hi = p->act_max;
    int64_t ko64;
    int32_t o1, o2, r1, r2, k1, k2, ro, ko, i;
    if (p->left_shift != 20 || s1 > 0 || s1 < -31 || s2 > 0 || s2 < -31 || so > -1 || so < -31 || m1 < 0 ||
        m2 < 0 || mo < 0) {
        return 0;
    }
    ro = -so;
    ko64 = ((int64_t)1 << (ro - 1)) + (int64_t)p->out_offset * ((int64_t)1 << ro);
    if (ko64 >= ((int64_t)1 << 30) || ko64 <= -((int64_t)1 << 30)) {
        return 0;
    }
    ko = (int32_t)ko64;
    o1 = (int32_t)((uint32_t)p->in1_offset << 21);
    o2 = (int32_t)((uint32_t)p->in2_offset << 21);
    r1 = -s1;
    r2 = -s2;
    k1 = r1 > 0 ? 1 << (r1 - 1) : 0;
    k2 = r2 > 0 ? 1 << (r2 - 1) : 0;
    /* one loop per rounding case and activation, so no test per element */
#define EP_ADD_IN_RND(x, v, m, k, r) x = (ep_smmlar((v), (m), (k)) + ((v) >> 31)) >> (r)
#define EP_ADD_IN_HALF(x, v, m, k, r) \
    do {                              \
        (void)(k);                    \
        (void)(r);                    \
        x = ep_smmulr((v), (m));      \
    } while (0)
#define EP_ADD_CLAMP(y) ((y) < lo ? lo : ((y) > hi ? hi : (y)))
#define EP_ADD_INT8(y) (y)        /* no fused activation: SSAT saturated to int8 already */
#define EP_ADD_LOOP(IN_A, IN_B, CLAMP)                                                   \
    for (i = 0; i < size; ++i) {                                                         \
        const int32_t va = o1 + (int32_t)((uint32_t)in1[i] << 21);                       \
        const int32_t vb = o2 + (int32_t)((uint32_t)in2[i] << 21);                       \
        int32_t a, b, sum, y;                                                            \
        IN_A(a, va, m1, k1, r1);                                                         \
        IN_B(b, vb, m2, k2, r2);                                                         \
        sum = a + b;                                                                     \
        y = __ssat((ep_smmlar((int32_t)((uint32_t)sum << 1), mo, ko) + (sum >> 31)) >> ro, 8); \
        out[i] = (int8_t)(CLAMP(y));                                                     \
    }
#define EP_ADD_LOOPS(CLAMP)                                                              \
    if (r1 > 0 && r2 > 0) {                                                              \
        EP_ADD_LOOP(EP_ADD_IN_RND, EP_ADD_IN_RND, CLAMP)                                 \
    } else if (r1 > 0) {                                                                 \
        EP_ADD_LOOP(EP_ADD_IN_RND, EP_ADD_IN_HALF, CLAMP)                                \
    } else if (r2 > 0) {                                                                 \
        EP_ADD_LOOP(EP_ADD_IN_HALF, EP_ADD_IN_RND, CLAMP)                                \
    } else {                                                                             \
        EP_ADD_LOOP(EP_ADD_IN_HALF, EP_ADD_IN_HALF, CLAMP)                               \
    }
    if (lo <= -128 && hi >= 127) {
        EP_ADD_LOOPS(EP_ADD_INT8)
    } else {
        EP_ADD_LOOPS(EP_ADD_CLAMP)
    }
#undef EP_ADD_LOOPS
#undef EP_ADD_LOOP
#undef EP_ADD_INT8
#undef EP_ADD_CLAMP
#undef EP_ADD_IN_HALF
#undef EP_ADD_IN_RND
    return size;
}
#endif

/* ADD / MUL without broadcasting: one flat loop, parameters in locals (out may be in1 or in2:
 * element i is read before it is written). The optimized builds use ep_mbqm_fast (exact for the
 * generated multipliers, see ep_simd.h) and, on Helium, four lanes at a time. */
static void ep_binary_flat(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out,
                           int is_mul, int32_t size)
{
    const int32_t off1 = p->in1_offset, off2 = p->in2_offset, out_off = p->out_offset;
    const int32_t ls = p->left_shift, m1 = p->in1_mult, s1 = p->in1_shift, m2 = p->in2_mult, s2 = p->in2_shift;
    const int32_t mo = p->out_mult, so = p->out_shift, lo = p->act_min, hi = p->act_max;
    int32_t i = 0;
#if EP_KERNELS_MVE
    for (; i < size; i += 4) {
        const mve_pred16_t pr = vctp32q((uint32_t)(size - i));
        const int32x4_t v1 = vaddq_n_s32(vldrbq_z_s32(in1 + i, pr), off1);
        const int32x4_t v2 = vaddq_n_s32(vldrbq_z_s32(in2 + i, pr), off2);
        int32x4_t r;
        if (is_mul) {
            r = ep_mbqm4(vmulq_s32(v1, v2), mo, so);
        } else {
            const int32x4_t a = ep_mbqm4(vshlq_s32(v1, vdupq_n_s32(ls)), m1, s1);
            const int32x4_t b = ep_mbqm4(vshlq_s32(v2, vdupq_n_s32(ls)), m2, s2);
            r = ep_mbqm4(vaddq_s32(a, b), mo, so);
        }
        r = vminq_s32(vmaxq_s32(vaddq_n_s32(r, out_off), vdupq_n_s32(lo)), vdupq_n_s32(hi));
        vstrbq_p_s32(out + i, r, pr);
    }
#else
#if EP_KERNELS_DSP
    if (!is_mul) {
        i = ep_add_dsp(p, in1, in2, out, size);
    }
    /* ADD without left shifts (the usual case): every MultiplyByQuantizedMultiplier as SMMULR
     * and shifts (see ep_dsp_rq: (x + off) << ls is at most 255 << 20, the rescaled inputs and
     * their sum stay below 2^29, so 2 * operand fits in int32 each time) */
    if (!is_mul && ls >= 0 && ls <= 21 && s1 <= 0 && s1 >= -31 && s2 <= 0 && s2 >= -31 && so <= -1 && so >= -31) {
        const int32_t off2p1 = 2 * out_off + 1, l1 = ls + 1, r1 = ~s1, r2 = ~s2;
        /* one loop per rounding case (a shift of 0, the input with the larger scale: multiplier
         * 0.5, rounds nothing), so no test per element and fewer registers live in each */
#define EP_ADD_RND(x, r) x = ((((x) + ((x) >> 31)) >> (r)) + 1) >> 1
#define EP_ADD_NONE(x, r) (void)(r)
#define EP_ADD_CLAMP(r) (r) < lo ? lo : ((r) > hi ? hi : (r))
#define EP_ADD_INT8(r) (r)      /* no fused activation: ep_dsp_rq saturated to int8 already */
#define EP_ADD_LOOP(RA, RB, CLAMP)                                                   \
        for (; i < size; ++i) {                                                      \
            int32_t a = ep_smmulr((int32_t)((uint32_t)(off1 + in1[i]) << l1), m1);   \
            int32_t b = ep_smmulr((int32_t)((uint32_t)(off2 + in2[i]) << l1), m2);   \
            int32_t r;                                                               \
            RA(a, r1);                                                               \
            RB(b, r2);                                                               \
            r = ep_dsp_rq(a + b, mo, so, off2p1);                                    \
            out[i] = (int8_t)(CLAMP(r));                                             \
        }
#define EP_ADD_LOOPS(CLAMP)                                                          \
        if (s1 < 0 && s2 < 0) {                                                      \
            EP_ADD_LOOP(EP_ADD_RND, EP_ADD_RND, CLAMP)                               \
        } else if (s1 < 0) {                                                         \
            EP_ADD_LOOP(EP_ADD_RND, EP_ADD_NONE, CLAMP)                              \
        } else if (s2 < 0) {                                                         \
            EP_ADD_LOOP(EP_ADD_NONE, EP_ADD_RND, CLAMP)                              \
        } else {                                                                     \
            EP_ADD_LOOP(EP_ADD_NONE, EP_ADD_NONE, CLAMP)                             \
        }
        if (lo <= -128 && hi >= 127) {
            EP_ADD_LOOPS(EP_ADD_INT8)
        } else {
            EP_ADD_LOOPS(EP_ADD_CLAMP)
        }
#undef EP_ADD_LOOPS
#undef EP_ADD_LOOP
#undef EP_ADD_INT8
#undef EP_ADD_CLAMP
#undef EP_ADD_NONE
#undef EP_ADD_RND
    }
#endif
    for (; i < size; ++i) {
        const int32_t v1 = off1 + in1[i], v2 = off2 + in2[i];
        int32_t r;
#if EP_KERNELS_DSP
        if (is_mul) {
            r = ep_mbqm_fast(v1 * v2, mo, so) + out_off;
        } else {
            r = ep_mbqm_fast(ep_mbqm_fast(v1 * (1 << ls), m1, s1) + ep_mbqm_fast(v2 * (1 << ls), m2, s2), mo, so) +
                out_off;
        }
#else
        if (is_mul) {
            r = ep_mbqm(v1 * v2, mo, so) + out_off;
        } else {
            r = ep_mbqm(ep_mbqm(v1 * (1 << ls), m1, s1) + ep_mbqm(v2 * (1 << ls), m2, s2), mo, so) + out_off;
        }
#endif
        out[i] = (int8_t)ep_clamp(r, lo, hi);
    }
#endif
}

static void ep_binary(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int is_mul)
{
    int32_t n, h, w, c;
    size_t o = 0;

    if (ep_dense_strides(p->in1_stride, &p->out) && ep_dense_strides(p->in2_stride, &p->out)) {
        ep_binary_flat(p, in1, in2, out, is_mul, p->out.n * p->out.h * p->out.w * p->out.c);
        return;
    }

    for (n = 0; n < p->out.n; ++n) {
        for (h = 0; h < p->out.h; ++h) {
            for (w = 0; w < p->out.w; ++w) {
                for (c = 0; c < p->out.c; ++c) {
                    const size_t i1 = (size_t)(n * p->in1_stride[0] + h * p->in1_stride[1] + w * p->in1_stride[2] + c * p->in1_stride[3]);
                    const size_t i2 = (size_t)(n * p->in2_stride[0] + h * p->in2_stride[1] + w * p->in2_stride[2] + c * p->in2_stride[3]);
                    const int32_t v1 = p->in1_offset + in1[i1];
                    const int32_t v2 = p->in2_offset + in2[i2];
                    int32_t r;
                    if (is_mul) {
                        r = p->out_offset + ep_mbqm(v1 * v2, p->out_mult, p->out_shift);
                    } else {
                        const int32_t s1 = ep_mbqm(v1 * (1 << p->left_shift), p->in1_mult, p->in1_shift);
                        const int32_t s2 = ep_mbqm(v2 * (1 << p->left_shift), p->in2_mult, p->in2_shift);
                        r = ep_mbqm(s1 + s2, p->out_mult, p->out_shift) + p->out_offset;
                    }
                    out[o++] = (int8_t)ep_clamp(r, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_add(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    ep_binary(p, in1, in2, out, 0);
}

void ep_mul(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    ep_binary(p, in1, in2, out, 1);
}

void ep_requantize(const ep_requant_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = ep_mbqm((int32_t)in[i] - p->in_zero_point, p->mult, p->shift) + p->out_zero_point;
        out[i] = (int8_t)ep_clamp(v, -128, 127);
    }
}

/* int8 -> uint8 (TFLM's Requantize into uint8: the same arithmetic, clamped to 0..255); the
 * output bytes are uint8 values */
void ep_requantize_u8(const ep_requant_params *p, const int8_t *in, int8_t *out)
{
    uint8_t *o = (uint8_t *)(void *)out;
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = ep_mbqm((int32_t)in[i] - p->in_zero_point, p->mult, p->shift) + p->out_zero_point;
        o[i] = (uint8_t)ep_clamp(v, 0, 255);
    }
}

void ep_pad(const ep_pad_params *p, const int8_t *in, int8_t *out)
{
    int32_t n, h, w;
    size_t o = 0;

    for (n = 0; n < p->out.n; ++n) {
        const int32_t in_n = n - p->before[0];
        for (h = 0; h < p->out.h; ++h) {
            const int32_t in_h = h - p->before[1];
            for (w = 0; w < p->out.w; ++w) {
                const int32_t in_w = w - p->before[2];
                const int inside = in_n >= 0 && in_n < p->in.n && in_h >= 0 && in_h < p->in.h &&
                                   in_w >= 0 && in_w < p->in.w;
                int32_t c;
                for (c = 0; c < p->out.c; ++c) {
                    const int32_t in_c = c - p->before[3];
                    if (inside && in_c >= 0 && in_c < p->in.c) {
                        out[o++] = in[((size_t)(in_n * p->in.h + in_h) * p->in.w + in_w) * p->in.c + in_c];
                    } else {
                        out[o++] = (int8_t)p->pad_value;
                    }
                }
            }
        }
    }
}

void ep_concat(const ep_concat_params *p, const int8_t *const *ins, int8_t *out)
{
    int32_t k, i;
    size_t o = 0;

    for (k = 0; k < p->outer; ++k) {
        for (i = 0; i < p->num_inputs; ++i) {
            memcpy(out + o, ins[i] + (size_t)k * p->inner[i], (size_t)p->inner[i]);
            o += (size_t)p->inner[i];
        }
    }
}
