/* Standalone int8 activations and DEQUANTIZE, bit-exact with TFLM's reference kernels:
 * RELU / RELU_N1_TO_1 (ReluQuantized), RELU6 (Relu6Quantized), HARD_SWISH (reference_ops::HardSwish,
 * 16-bit gemmlowp fixed point), LEAKY_RELU (QuantizeLeakyRelu), PRELU (BroadcastPrelu4DSlow) and
 * DEQUANTIZE (int8 -> float32). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>
#include <string.h>

void ep_relu(const ep_relu_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = p->out_zero_point + ep_mbqm((int32_t)in[i] - p->in_zero_point, p->mult, p->shift);
        out[i] = (int8_t)ep_clamp(v, p->act_min, p->act_max);
    }
}

void ep_clip(const ep_clip_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        out[i] = (int8_t)ep_clamp(in[i], p->lo, p->hi);
    }
}

/* gemmlowp SaturatingRoundingDoublingHighMul on int16 */
static int32_t ep_srdhm16(int32_t a, int32_t b)
{
    int32_t ab, nudge;
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    ab = a * b;
    nudge = ab >= 0 ? (1 << 14) : (1 - (1 << 14));
    return (int16_t)((ab + nudge) / (1 << 15));
}

/* reference_ops SaturatingDoublingHighMul on int16: truncating, no rounding nudge */
static int32_t ep_sdhm16(int32_t a, int32_t b)
{
    if (a == b && a == INT16_MIN) {
        return INT16_MAX;
    }
    return (int16_t)((a * b) / (1 << 15));
}

static int32_t ep_sat_lshift16(int32_t v, int amount)
{
    const int64_t r = (int64_t)v * ((int64_t)1 << amount);
    return r > INT16_MAX ? INT16_MAX : (r < INT16_MIN ? INT16_MIN : (int32_t)r);
}

/* an int16_t assignment of an int: wraps modulo 2^16 (what the reference's int16_t arithmetic does) */
static int32_t ep_wrap16(int32_t v)
{
    return (int32_t)(((uint32_t)v + 32768u) & 0xFFFFu) - 32768;
}

void ep_hard_swish(const ep_hard_swish_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)in[i] - p->in_zero_point;
        const int32_t hires = x * (1 << 7);                      /* |x| <= 255: fits int16 */
        const int32_t preshift_out = ep_srdhm16(hires, p->out_mult16);
        int32_t reluish = hires, v;
        if (p->reluish_exponent > 0) {
            reluish = ep_sat_lshift16(reluish, p->reluish_exponent - 1);
        }
        reluish = ep_srdhm16(reluish, p->reluish_mult16);
        if (p->reluish_exponent > 0) {
            reluish = ep_sat_lshift16(reluish, 1);
        }
        if (p->reluish_exponent < 0) {
            reluish = ep_rdbpot(reluish, -p->reluish_exponent);
        }
        reluish = (reluish + (1 << 15)) >> 1;                    /* [-1, 1] -> [0, 1] */
        v = ep_rdbpot(ep_sdhm16(reluish, preshift_out), -p->out_exponent);
        v = ep_wrap16(v + p->out_zero_point);
        out[i] = (int8_t)ep_clamp(v, -128, 127);
    }
}

void ep_leaky_relu(const ep_leaky_relu_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)in[i] - p->in_zero_point;
        const int32_t v = p->out_zero_point + (x >= 0 ? ep_mbqm(x, p->mult_identity, p->shift_identity)
                                                      : ep_mbqm(x, p->mult_alpha, p->shift_alpha));
        out[i] = (int8_t)ep_clamp(v, -128, 127);
    }
}

void ep_prelu(const ep_prelu_params *p, const int8_t *in, const int8_t *alpha, int8_t *out)
{
    int32_t n, h, w, c;
    size_t o = 0;
    for (n = 0; n < p->out.n; ++n) {
        for (h = 0; h < p->out.h; ++h) {
            for (w = 0; w < p->out.w; ++w) {
                for (c = 0; c < p->out.c; ++c) {
                    const size_t ii = (size_t)(n * p->in_stride[0] + h * p->in_stride[1] + w * p->in_stride[2] + c * p->in_stride[3]);
                    const int32_t x = p->in_offset + in[ii];
                    int32_t v;
                    if (x >= 0) {
                        v = ep_mbqm(x, p->mult1, p->shift1);
                    } else {
                        const size_t ia = (size_t)(n * p->alpha_stride[0] + h * p->alpha_stride[1] + w * p->alpha_stride[2] + c * p->alpha_stride[3]);
                        v = ep_mbqm(x * (p->alpha_offset + alpha[ia]), p->mult2, p->shift2);
                    }
                    out[o++] = (int8_t)ep_clamp(v + p->out_offset, -128, 127);
                }
            }
        }
    }
}

/* out is the float32 output written byte-wise (the arena is int8_t). The float product of the
 * float32 scale and the integer is exact before its one rounding, as TFLM's double product is. */
void ep_dequantize(const ep_dequantize_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const float f = p->scale * (float)((int32_t)in[i] - p->zero_point);
        memcpy(out + (size_t)i * sizeof f, &f, sizeof f);
    }
}
