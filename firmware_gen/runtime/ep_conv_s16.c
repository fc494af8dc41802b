/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED for int16x8: TFLM reference_integer_ops for int16
 * input (zero point 0), int8 weights and int64 bias; portable loops, output rows in order (the
 * planner may overlap the output with the rows of the input already consumed). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_fixedpoint_s16.h"

#include <stddef.h>

static inline int16_t ep_requant_s16(int64_t acc, int32_t acc32, int32_t mult, int32_t shift,
                                     int32_t act_min, int32_t act_max)
{
    /* the int32 path wraps like TFLM's int32 accumulator would */
    const int32_t v = acc32 ? ep_mbqm((int32_t)(uint32_t)(uint64_t)acc, mult, shift)
                            : ep_mbqm64(acc, mult, shift);
    return (int16_t)ep_clamp_s16(v, act_min, act_max);
}

void ep_conv2d_s16(const ep_conv_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, fic = p->filter_in_c;
    const int32_t filters_per_group = out_c / (in_c / fic);
    int32_t b, oy, ox, oc, fy, fx, ic;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int16_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * out_c;
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t c0 = (oc / filters_per_group) * fic;
                    const int8_t *w = p->weights + (size_t)oc * kh * kw * fic;
                    int64_t acc = 0;
                    for (fy = 0; fy < kh; ++fy) {
                        const int32_t iy = iy0 + p->dil_h * fy;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        for (fx = 0; fx < kw; ++fx) {
                            const int32_t ix = ix0 + p->dil_w * fx;
                            const int16_t *x;
                            const int8_t *wf;
                            int64_t sum = 0;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            x = in + ((size_t)(b * in_h + iy) * in_w + ix) * in_c + c0;
                            wf = w + ((size_t)fy * kw + fx) * fic;
                            for (ic = 0; ic < fic; ++ic) {
                                sum += (int32_t)wf[ic] * (int32_t)x[ic];     /* |w x| < 2^22 */
                            }
                            acc += sum;
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    o[oc] = ep_requant_s16(acc, p->acc32, p->mult[oc], p->shift[oc], p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_depthwise_conv2d_s16(const ep_conv_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, dm = p->depth_multiplier;
    int32_t b, oy, ox, ic, m, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int16_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * out_c;
                for (ic = 0; ic < in_c; ++ic) {
                    for (m = 0; m < dm; ++m) {
                        const int32_t oc = ic * dm + m;
                        int64_t acc = 0;
                        for (fy = 0; fy < kh; ++fy) {
                            const int32_t iy = iy0 + p->dil_h * fy;
                            if (iy < 0 || iy >= in_h) {
                                continue;
                            }
                            for (fx = 0; fx < kw; ++fx) {
                                const int32_t ix = ix0 + p->dil_w * fx;
                                if (ix < 0 || ix >= in_w) {
                                    continue;
                                }
                                acc += (int64_t)p->weights[((size_t)fy * kw + fx) * out_c + oc] *
                                       (int64_t)in[((size_t)(b * in_h + iy) * in_w + ix) * in_c + ic];
                            }
                        }
                        if (p->bias != NULL) {
                            acc += p->bias[oc];
                        }
                        o[oc] = ep_requant_s16(acc, p->acc32, p->mult[oc], p->shift[oc], p->act_min,
                                               p->act_max);
                    }
                }
            }
        }
    }
}

void ep_fully_connected_s16(const ep_fc_s16_params *p, const int16_t *in, int16_t *out)
{
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int16_t *x = in + (size_t)b * p->accum_depth;
        for (oc = 0; oc < p->out_depth; ++oc) {
            const int8_t *w = p->weights + (size_t)oc * p->accum_depth;
            const int32_t k = p->per_channel ? oc : 0;
            int64_t acc = 0;
            for (d = 0; d < p->accum_depth; ++d) {
                acc += (int64_t)((int32_t)w[d] + p->weights_offset) * (int64_t)x[d];
            }
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            out[(size_t)b * p->out_depth + oc] = ep_requant_s16(acc, p->acc32, p->mult[k], p->shift[k],
                                                                p->act_min, p->act_max);
        }
    }
}
