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
