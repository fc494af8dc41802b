/* ADD, MUL (with broadcasting), QUANTIZE (int16 <-> int8, int16 -> int16), PAD and CONCATENATION
 * for int16x8: TFLM's int16 reference arithmetic (ADD: left_shift 15, general rescaling). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_fixedpoint_s16.h"

#include <stddef.h>
#include <string.h>

static void ep_binary_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out,
                          int is_mul)
{
    int32_t n, h, w, c;
    size_t o = 0;

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
                    out[o++] = (int16_t)ep_clamp_s16(r, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_add_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    ep_binary_s16(p, in1, in2, out, 0);
}

void ep_mul_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    ep_binary_s16(p, in1, in2, out, 1);
}

/* reference_ops::Requantize: (x - in_zp) * scale + out_zp, clamped to the output type */
static int32_t ep_requant_value(int32_t x, const ep_requant_params *p)
{
    return ep_mbqm(x - p->in_zero_point, p->mult, p->shift) + p->out_zero_point;
}

void ep_requantize_s16(const ep_requant_params *p, const int16_t *in, int16_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        out[i] = (int16_t)ep_clamp_s16(ep_requant_value(in[i], p), -32768, 32767);
    }
}

void ep_requantize_s16_s8(const ep_requant_params *p, const int16_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        out[i] = (int8_t)ep_clamp_s16(ep_requant_value(in[i], p), -128, 127);
    }
}

void ep_requantize_s8_s16(const ep_requant_params *p, const int8_t *in, int16_t *out)
{
    int32_t i;
    /* backwards: the int16 output may start where the int8 input does */
    for (i = p->size - 1; i >= 0; --i) {
        out[i] = (int16_t)ep_clamp_s16(ep_requant_value(in[i], p), -32768, 32767);
    }
}

void ep_pad_s16(const ep_pad_params *p, const int16_t *in, int16_t *out)
{
    int32_t n, h, w, c;
    size_t o = 0;

    for (n = 0; n < p->out.n; ++n) {
        const int32_t in_n = n - p->before[0];
        for (h = 0; h < p->out.h; ++h) {
            const int32_t in_h = h - p->before[1];
            for (w = 0; w < p->out.w; ++w) {
                const int32_t in_w = w - p->before[2];
                const int inside = in_n >= 0 && in_n < p->in.n && in_h >= 0 && in_h < p->in.h &&
                                   in_w >= 0 && in_w < p->in.w;
                for (c = 0; c < p->out.c; ++c) {
                    const int32_t in_c = c - p->before[3];
                    if (inside && in_c >= 0 && in_c < p->in.c) {
                        out[o++] = in[((size_t)(in_n * p->in.h + in_h) * p->in.w + in_w) * p->in.c + in_c];
                    } else {
                        out[o++] = (int16_t)p->pad_value;
                    }
                }
            }
        }
    }
}

/* inner: elements (not bytes) each input contributes per outer step */
void ep_concat_s16(const ep_concat_params *p, const int16_t *const *ins, int16_t *out)
{
    int32_t k, i;
    size_t o = 0;

    for (k = 0; k < p->outer; ++k) {
        for (i = 0; i < p->num_inputs; ++i) {
            memcpy(out + o, ins[i] + (size_t)k * p->inner[i], (size_t)p->inner[i] * sizeof(int16_t));
            o += (size_t)p->inner[i];
        }
    }
}
