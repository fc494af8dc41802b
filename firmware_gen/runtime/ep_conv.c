/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: TFLM reference_integer_ops arithmetic
 * (int32 accumulation of filter * (input + input_offset), bias, per-channel requantization). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>

void ep_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    /* grouped convolution: TFLM derives groups from input depth / filter input depth */
    const int32_t groups = p->in.c / p->filter_in_c;
    const int32_t filters_per_group = p->out.c / groups;
    int32_t b, oy, ox, oc, fy, fx, ic;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (oc = 0; oc < p->out.c; ++oc) {
                    const int32_t group_c0 = (oc / filters_per_group) * p->filter_in_c;
                    int32_t acc = 0;
                    for (fy = 0; fy < p->kh; ++fy) {
                        const int32_t iy = iy0 + p->dil_h * fy;
                        if (iy < 0 || iy >= p->in.h) {
                            continue;
                        }
                        for (fx = 0; fx < p->kw; ++fx) {
                            const int32_t ix = ix0 + p->dil_w * fx;
                            const int8_t *ip;
                            const int8_t *wp;
                            if (ix < 0 || ix >= p->in.w) {
                                continue;
                            }
                            ip = in + ((size_t)(b * p->in.h + iy) * p->in.w + ix) * p->in.c + group_c0;
                            wp = p->weights + ((size_t)(oc * p->kh + fy) * p->kw + fx) * p->filter_in_c;
                            for (ic = 0; ic < p->filter_in_c; ++ic) {
                                acc += (int32_t)wp[ic] * ((int32_t)ip[ic] + p->in_offset);
                            }
                        }
                    }
                    if (p->bias != NULL) {
                        acc += p->bias[oc];
                    }
                    acc = ep_mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
                    out[((size_t)(b * p->out.h + oy) * p->out.w + ox) * p->out.c + oc] =
                        (int8_t)ep_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void ep_depthwise_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, oy, ox, ic, m, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                for (ic = 0; ic < p->in.c; ++ic) {
                    for (m = 0; m < p->depth_multiplier; ++m) {
                        const int32_t oc = m + ic * p->depth_multiplier;
                        int32_t acc = 0;
                        for (fy = 0; fy < p->kh; ++fy) {
                            const int32_t iy = iy0 + p->dil_h * fy;
                            if (iy < 0 || iy >= p->in.h) {
                                continue;
                            }
                            for (fx = 0; fx < p->kw; ++fx) {
                                const int32_t ix = ix0 + p->dil_w * fx;
                                int32_t iv, wv;
                                if (ix < 0 || ix >= p->in.w) {
                                    continue;
                                }
                                iv = in[((size_t)(b * p->in.h + iy) * p->in.w + ix) * p->in.c + ic];
                                wv = p->weights[((size_t)fy * p->kw + fx) * p->out.c + oc];
                                acc += wv * (iv + p->in_offset);
                            }
                        }
                        if (p->bias != NULL) {
                            acc += p->bias[oc];
                        }
                        acc = ep_mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
                        out[((size_t)(b * p->out.h + oy) * p->out.w + ox) * p->out.c + oc] =
                            (int8_t)ep_clamp(acc, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void ep_fully_connected(const ep_fc_params *p, const int8_t *in, int8_t *out)
{
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *ip = in + (size_t)b * p->accum_depth;
        for (oc = 0; oc < p->out_depth; ++oc) {
            const int8_t *wp = p->weights + (size_t)oc * p->accum_depth;
            const int32_t ch = p->per_channel ? oc : 0;
            int32_t acc = 0;
            for (d = 0; d < p->accum_depth; ++d) {
                acc += ((int32_t)wp[d] + p->weights_offset) * ((int32_t)ip[d] + p->in_offset);
            }
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            acc = ep_mbqm(acc, p->mult[ch], p->shift[ch]) + p->out_offset;
            out[(size_t)b * p->out_depth + oc] = (int8_t)ep_clamp(acc, p->act_min, p->act_max);
        }
    }
}
