/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: TFLM reference_integer_ops arithmetic
 * (int32 accumulation of filter * (input + input_offset), bias, per-channel requantization). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>

/* sum_i w[i] * (x[i] + in_offset), written as sum(w * x) + in_offset * sum(w): the same integer
 * (two's complement sums are associative), but a plain int8 dot product the compiler vectorizes. */
static int32_t ep_dot(const int8_t *w, const int8_t *x, int32_t n, int32_t in_offset)
{
    int32_t acc = 0, wsum = 0, i;
    for (i = 0; i < n; ++i) {
        acc += (int32_t)w[i] * (int32_t)x[i];
        wsum += w[i];
    }
    return acc + wsum * in_offset;
}

void ep_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    /* parameters copied to locals: stores through int8_t *out may alias *p otherwise */
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, fic = p->filter_in_c;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    /* grouped convolution: TFLM derives groups from input depth / filter input depth */
    const int32_t filters_per_group = out_c / (in_c / fic);
    /* undilated, ungrouped rows of taps are contiguous (kw * in_c bytes) */
    const int contiguous = dil_w == 1 && fic == in_c;
    int32_t b, oy, ox, oc, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = in_w - ix0 < kw ? in_w - ix0 : kw;
                int8_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * out_c;
                for (oc = 0; oc < out_c; ++oc) {
                    const int32_t group_c0 = (oc / filters_per_group) * fic;
                    const int8_t *wo = weights + (size_t)oc * kh * kw * fic;
                    int32_t acc = 0;
                    for (fy = 0; fy < kh; ++fy) {
                        const int32_t iy = iy0 + dil_h * fy;
                        const int8_t *irow;
                        const int8_t *wrow;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        irow = in + (size_t)(b * in_h + iy) * in_w * in_c + group_c0;
                        wrow = wo + (size_t)fy * kw * fic;
                        if (contiguous) {
                            /* the in-image taps of this filter row are one run of memory in both
                             * the input and the weights: a single dot product */
                            if (fx1 > fx0) {
                                acc += ep_dot(wrow + (size_t)fx0 * fic, irow + (size_t)(ix0 + fx0) * in_c,
                                              (fx1 - fx0) * fic, in_offset);
                            }
                            continue;
                        }
                        for (fx = 0; fx < kw; ++fx) {
                            const int32_t ix = ix0 + dil_w * fx;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            acc += ep_dot(wrow + (size_t)fx * fic, irow + (size_t)ix * in_c, fic, in_offset);
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                    }
                    acc = ep_mbqm(acc, mult[oc], shift[oc]) + out_offset;
                    o[oc] = (int8_t)ep_clamp(acc, act_min, act_max);
                }
            }
        }
    }
}

#define EP_DW_BLOCK 32

/* The same sums as the generic loop, accumulated tap by tap over a block of output channels
 * (whole depth-multiplier groups) so the innermost loop walks contiguous memory. */
static void ep_depthwise_conv2d_blocked(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, dm = p->depth_multiplier;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    const int32_t ic_per_block = EP_DW_BLOCK / dm;
    int32_t acc[EP_DW_BLOCK];
    int32_t b, oy, ox, ic0, c, m, fy, fx;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                int8_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * out_c;
                for (ic0 = 0; ic0 < in_c; ic0 += ic_per_block) {
                    const int32_t nic = in_c - ic0 < ic_per_block ? in_c - ic0 : ic_per_block;
                    const int32_t nc = nic * dm, oc0 = ic0 * dm;
                    for (c = 0; c < nc; ++c) {
                        acc[c] = 0;
                    }
                    for (fy = 0; fy < kh; ++fy) {
                        const int32_t iy = iy0 + dil_h * fy;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        for (fx = 0; fx < kw; ++fx) {
                            const int32_t ix = ix0 + dil_w * fx;
                            const int8_t *xp;
                            const int8_t *wp;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            xp = in + ((size_t)(b * in_h + iy) * in_w + ix) * in_c + ic0;
                            wp = weights + ((size_t)fy * kw + fx) * out_c + oc0;
                            if (dm == 1) {
                                for (c = 0; c < nc; ++c) {
                                    acc[c] += (int32_t)wp[c] * ((int32_t)xp[c] + in_offset);
                                }
                            } else {
                                for (c = 0; c < nic; ++c) {
                                    const int32_t xv = (int32_t)xp[c] + in_offset;
                                    for (m = 0; m < dm; ++m) {
                                        acc[c * dm + m] += (int32_t)wp[c * dm + m] * xv;
                                    }
                                }
                            }
                        }
                    }
                    for (c = 0; c < nc; ++c) {
                        const int32_t oc = oc0 + c;
                        int32_t v = acc[c] + (bias != NULL ? bias[oc] : 0);
                        v = ep_mbqm(v, mult[oc], shift[oc]) + out_offset;
                        o[oc] = (int8_t)ep_clamp(v, act_min, act_max);
                    }
                }
            }
        }
    }
}

void ep_depthwise_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, dm = p->depth_multiplier;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    int32_t b, oy, ox, ic, m, fy, fx;

    if (dm <= EP_DW_BLOCK) {
        ep_depthwise_conv2d_blocked(p, in, out);
        return;
    }
    /* generic loop, kept for depth multipliers above the block size */
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                int8_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * out_c;
                for (ic = 0; ic < in_c; ++ic) {
                    for (m = 0; m < dm; ++m) {
                        const int32_t oc = m + ic * dm;
                        int32_t acc = 0;
                        for (fy = 0; fy < kh; ++fy) {
                            const int32_t iy = iy0 + dil_h * fy;
                            const int8_t *irow;
                            const int8_t *wrow;
                            if (iy < 0 || iy >= in_h) {
                                continue;
                            }
                            irow = in + ((size_t)(b * in_h + iy) * in_w) * in_c + ic;
                            wrow = weights + (size_t)fy * kw * out_c + oc;
                            for (fx = 0; fx < kw; ++fx) {
                                const int32_t ix = ix0 + dil_w * fx;
                                if (ix < 0 || ix >= in_w) {
                                    continue;
                                }
                                acc += (int32_t)wrow[(size_t)fx * out_c] * ((int32_t)irow[(size_t)ix * in_c] + in_offset);
                            }
                        }
                        if (bias != NULL) {
                            acc += bias[oc];
                        }
                        acc = ep_mbqm(acc, mult[oc], shift[oc]) + out_offset;
                        o[oc] = (int8_t)ep_clamp(acc, act_min, act_max);
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
            if (p->weights_offset == 0) {
                acc = ep_dot(wp, ip, p->accum_depth, p->in_offset);
            } else {
                for (d = 0; d < p->accum_depth; ++d) {
                    acc += ((int32_t)wp[d] + p->weights_offset) * ((int32_t)ip[d] + p->in_offset);
                }
            }
            if (p->bias != NULL) {
                acc += p->bias[oc];
            }
            acc = ep_mbqm(acc, p->mult[ch], p->shift[ch]) + p->out_offset;
            out[(size_t)b * p->out_depth + oc] = (int8_t)ep_clamp(acc, p->act_min, p->act_max);
        }
    }
}
