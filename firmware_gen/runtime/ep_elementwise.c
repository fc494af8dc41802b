/* ADD, MUL (with broadcasting), QUANTIZE (int8 requantize), PAD and CONCATENATION. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>
#include <string.h>

static void ep_binary(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int is_mul)
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
