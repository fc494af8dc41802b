/* AVERAGE_POOL_2D, MAX_POOL_2D and MEAN (over H, W) for int16: TFLM's int16 reference arithmetic,
 * the same as the int8 kernels in ep_pool.c with int16 data and limits. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_fixedpoint_s16.h"

#include <stddef.h>

static void ep_pool_s16(const ep_pool_params *p, const int16_t *in, int16_t *out, int is_max)
{
    int32_t b, oy, ox, c, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
            const int32_t fy1 = p->kh < p->in.h - iy0 ? p->kh : p->in.h - iy0;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = p->kw < p->in.w - ix0 ? p->kw : p->in.w - ix0;
                for (c = 0; c < p->out.c; ++c) {
                    int32_t acc = is_max ? -32768 : 0;
                    int32_t count = 0;
                    for (fy = fy0; fy < fy1; ++fy) {
                        for (fx = fx0; fx < fx1; ++fx) {
                            const int32_t v = in[((size_t)(b * p->in.h + iy0 + fy) * p->in.w + ix0 + fx) * p->in.c + c];
                            acc = is_max ? (v > acc ? v : acc) : acc + v;
                            count++;
                        }
                    }
                    if (!is_max) {
                        /* round half away from zero; TFLM fails on an empty window: keep it defined */
                        acc = count == 0 ? 0 : acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    out[((size_t)(b * p->out.h + oy) * p->out.w + ox) * p->out.c + c] =
                        (int16_t)ep_clamp_s16(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_avg_pool_s16(const ep_pool_params *p, const int16_t *in, int16_t *out)
{
    ep_pool_s16(p, in, out, 0);
}

void ep_max_pool_s16(const ep_pool_params *p, const int16_t *in, int16_t *out)
{
    ep_pool_s16(p, in, out, 1);
}

/* The two paths of TFLM's EvalIntegerMean<int16_t>, as ep_mean in ep_pool.c. */
void ep_mean_s16(const ep_mean_params *p, const int16_t *in, int16_t *out)
{
    const int32_t count = p->in.h * p->in.w;
    int32_t b, c, i;

    for (b = 0; b < p->in.n; ++b) {
        for (c = 0; c < p->in.c; ++c) {
            int32_t acc = 0;
            for (i = 0; i < count; ++i) {
                acc += in[((size_t)b * count + i) * p->in.c + c];
            }
            if (p->mode == EP_MEAN_SAME_SCALE) {
                acc = acc / count;
            } else {
                acc = ep_mbqm(acc - p->in_zero_point * count, p->mult, p->shift) + p->out_zero_point;
            }
            out[(size_t)b * p->in.c + c] = (int16_t)ep_clamp_s16(acc, -32768, 32767);
        }
    }
}
