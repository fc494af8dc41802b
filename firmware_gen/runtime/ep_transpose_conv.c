/* TRANSPOSE_CONV for int8 and int16x8. TFLM scatters every input element into an int32 (int64)
 * scratch buffer and requantizes it afterwards; the sums are integer, so gathering the same terms
 * per output element gives the same values without the buffer. Output rows are written in order. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_fixedpoint_s16.h"

#include <stddef.h>

/* the accumulator of output element (b, oy, ox, oc): input (iy, ix) reaches it through filter tap
 * (oy + pad_h - iy * stride_h, ox + pad_w - ix * stride_w) */
static int64_t ep_tconv_acc(const ep_transpose_conv_params *p, const int8_t *in8, const int16_t *in16,
                            int32_t b, int32_t oy, int32_t ox, int32_t oc)
{
    const int32_t in_c = p->in.c;
    int64_t acc = 0;
    int32_t fy, fx, ic;

    for (fy = 0; fy < p->kh; ++fy) {
        const int32_t ty = oy + p->pad_h - fy;
        int32_t iy;
        if (ty < 0 || ty % p->stride_h != 0 || (iy = ty / p->stride_h) >= p->in.h) {
            continue;
        }
        for (fx = 0; fx < p->kw; ++fx) {
            const int32_t tx = ox + p->pad_w - fx;
            const int8_t *w = p->weights + (((size_t)oc * p->kh + fy) * p->kw + fx) * in_c;
            const size_t base = ((size_t)(b * p->in.h + iy) * p->in.w) * in_c;
            int32_t ix;
            if (tx < 0 || tx % p->stride_w != 0 || (ix = tx / p->stride_w) >= p->in.w) {
                continue;
            }
            for (ic = 0; ic < in_c; ++ic) {
                const size_t i = base + (size_t)ix * in_c + ic;
                const int32_t x = in8 != NULL ? (int32_t)in8[i] + p->in_offset : (int32_t)in16[i];
                acc += (int64_t)x * w[ic];
            }
        }
    }
    return acc;
}

static void ep_tconv(const ep_transpose_conv_params *p, const int8_t *in8, const int16_t *in16,
                     int8_t *out8, int16_t *out16)
{
    int32_t b, oy, ox, oc;
    size_t o = 0;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            for (ox = 0; ox < p->out.w; ++ox) {
                for (oc = 0; oc < p->out.c; ++oc, ++o) {
                    int64_t acc = ep_tconv_acc(p, in8, in16, b, oy, ox, oc);
                    int32_t v;
                    if (out8 != NULL) {
                        /* int32 accumulation as TFLM's (wraps the same way) */
                        int32_t a32 = (int32_t)(uint32_t)(uint64_t)acc;
                        if (p->bias32 != NULL) {
                            a32 = (int32_t)((uint32_t)a32 + (uint32_t)p->bias32[oc]);
                        }
                        v = ep_mbqm(a32, p->mult[oc], p->shift[oc]) + p->out_offset;
                        out8[o] = (int8_t)ep_clamp(v, p->act_min, p->act_max);
                    } else {
                        if (p->bias64 != NULL) {
                            acc += p->bias64[oc];
                        }
                        v = p->acc32 ? ep_mbqm((int32_t)(uint32_t)(uint64_t)acc, p->mult[oc], p->shift[oc])
                                     : ep_mbqm64(acc, p->mult[oc], p->shift[oc]);
                        out16[o] = (int16_t)ep_clamp(v, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void ep_transpose_conv(const ep_transpose_conv_params *p, const int8_t *in, int8_t *out)
{
    ep_tconv(p, in, NULL, out, NULL);
}

void ep_transpose_conv_s16(const ep_transpose_conv_params *p, const int16_t *in, int16_t *out)
{
    ep_tconv(p, NULL, in, NULL, out);
}
