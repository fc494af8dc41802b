/* SUB (with broadcasting) and LEAKY_RELU, int8 and int16: TFLM's reference arithmetic (SUB as
 * ADD's general rescaling, left_shift 20 for int8 and 15 for int16, the rescaled inputs subtracted). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>

static int32_t ep_sub_value(const ep_binary_params *p, int32_t x1, int32_t x2)
{
    const int32_t s1 = ep_mbqm((p->in1_offset + x1) * (1 << p->left_shift), p->in1_mult, p->in1_shift);
    const int32_t s2 = ep_mbqm((p->in2_offset + x2) * (1 << p->left_shift), p->in2_mult, p->in2_shift);
    return ep_clamp(ep_mbqm(s1 - s2, p->out_mult, p->out_shift) + p->out_offset, p->act_min, p->act_max);
}

#define EP_SUB_LOOP(in1, in2, out, T)                                                              \
    do {                                                                                           \
        int32_t n, h, w, c;                                                                        \
        size_t o = 0;                                                                              \
        for (n = 0; n < p->out.n; ++n)                                                             \
            for (h = 0; h < p->out.h; ++h)                                                         \
                for (w = 0; w < p->out.w; ++w)                                                     \
                    for (c = 0; c < p->out.c; ++c) {                                               \
                        const size_t i1 = (size_t)(n * p->in1_stride[0] + h * p->in1_stride[1] +   \
                                                   w * p->in1_stride[2] + c * p->in1_stride[3]);   \
                        const size_t i2 = (size_t)(n * p->in2_stride[0] + h * p->in2_stride[1] +   \
                                                   w * p->in2_stride[2] + c * p->in2_stride[3]);   \
                        (out)[o++] = (T)ep_sub_value(p, (in1)[i1], (in2)[i2]);                     \
                    }                                                                              \
    } while (0)

void ep_sub(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    EP_SUB_LOOP(in1, in2, out, int8_t);
}

void ep_sub_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out)
{
    EP_SUB_LOOP(in1, in2, out, int16_t);
}

static int32_t ep_leaky_value(const ep_leaky_relu_params *p, int32_t x)
{
    const int32_t v = x - p->in_zero_point;
    return p->out_zero_point + (v >= 0 ? ep_mbqm(v, p->mult_identity, p->shift_identity)
                                       : ep_mbqm(v, p->mult_alpha, p->shift_alpha));
}

void ep_leaky_relu_s16(const ep_leaky_relu_params *p, const int16_t *in, int16_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        out[i] = (int16_t)ep_clamp(ep_leaky_value(p, in[i]), -32768, 32767);
    }
}
