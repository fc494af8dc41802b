/* AVERAGE_POOL_2D, MAX_POOL_2D and MEAN (over H, W): TFLM reference arithmetic. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>

static int32_t ep_max32(int32_t a, int32_t b) { return a > b ? a : b; }
static int32_t ep_min32(int32_t a, int32_t b) { return a < b ? a : b; }

/* Divide rounding half away from zero, as reference_integer_ops::AveragePool and Mean do. */
static int32_t ep_round_div(int32_t acc, int32_t count)
{
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

static void ep_pool(const ep_pool_params *p, const int8_t *in, int8_t *out, int is_max)
{
    int32_t b, oy, ox, c, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = ep_max32(0, -iy0);
            const int32_t fy1 = ep_min32(p->kh, p->in.h - iy0);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ep_max32(0, -ix0);
                const int32_t fx1 = ep_min32(p->kw, p->in.w - ix0);
                for (c = 0; c < p->out.c; ++c) {
                    int32_t acc = is_max ? -128 : 0;
                    int32_t count = 0;
                    for (fy = fy0; fy < fy1; ++fy) {
                        for (fx = fx0; fx < fx1; ++fx) {
                            const int32_t v = in[((size_t)(b * p->in.h + iy0 + fy) * p->in.w + ix0 + fx) * p->in.c + c];
                            acc = is_max ? ep_max32(acc, v) : acc + v;
                            count++;
                        }
                    }
                    if (!is_max) {
                        /* TFLM returns an error for an empty window; keep the value defined */
                        acc = count > 0 ? ep_round_div(acc, count) : 0;
                    }
                    out[((size_t)(b * p->out.h + oy) * p->out.w + ox) * p->out.c + c] =
                        (int8_t)ep_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_avg_pool(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
    ep_pool(p, in, out, 0);
}

void ep_max_pool(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
    ep_pool(p, in, out, 1);
}

/* TFLM's EvalIntegerMean takes one of two int8 paths (keep_dims or not):
 *  EP_MEAN_SAME_SCALE  same input/output quantization: reference_ops::Mean, sum / count (C division)
 *  EP_MEAN_REQUANTIZE  otherwise: QuantizedMeanOrSum, multiplier pre-divided by count at generation */
void ep_mean(const ep_mean_params *p, const int8_t *in, int8_t *out)
{
    const int32_t count = p->in.h * p->in.w;
    int32_t b, c, i;

    for (b = 0; b < p->in.n; ++b) {
        for (c = 0; c < p->in.c; ++c) {
            int32_t acc = 0;
            for (i = 0; i < count; ++i) {
                const int32_t v = in[((size_t)b * count + i) * p->in.c + c];
                acc += v;
            }
            if (p->mode == EP_MEAN_SAME_SCALE) {
                acc = acc / count;
            } else {
                acc = ep_mbqm(acc - p->in_zero_point * count, p->mult, p->shift) + p->out_zero_point;
            }
            out[(size_t)b * p->in.c + c] = (int8_t)ep_clamp(acc, -128, 127);
        }
    }
}
