/* AVERAGE_POOL_2D, MAX_POOL_2D and MEAN (over H, W): TFLM reference arithmetic. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_simd.h"

#include <stddef.h>
#include <string.h>

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

#if EP_KERNELS_MVE
/* Helium AVERAGE_POOL_2D: per output pixel, 16 channels per pass summed in two int16x8 vectors
 * (VLDRB.S16 + VADD.I16: four instructions per 16 input bytes). |int8| <= 128, so 256 taps fit an
 * int16 lane exactly (256 * 128 = 2^15 only as -2^15); longer windows are summed in chunks of 256
 * taps into int32. The rounded division (half away from zero, as the reference) is one SDIV per
 * channel. Channel tails are predicated loads. */
__attribute__((noinline)) static void ep_avg_pool_mve(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t c_n = p->in.c, in_w = p->in.w;
    int32_t b, oy, ox, c0, fy, fx, i;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = ep_max32(0, -iy0), fy1 = ep_min32(p->kh, p->in.h - iy0);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ep_max32(0, -ix0), fx1 = ep_min32(p->kw, in_w - ix0);
                const int32_t cols = fx1 > fx0 ? fx1 - fx0 : 0, rows = fy1 > fy0 ? fy1 - fy0 : 0;
                const int32_t count = rows * cols, half = count / 2;
                int8_t *const o = out + ((size_t)(b * p->out.h + oy) * p->out.w + ox) * c_n;
                for (c0 = 0; c0 < c_n; c0 += 16) {
                    const int32_t nc = c_n - c0 < 16 ? c_n - c0 : 16;
                    const mve_pred16_t p0 = vctp16q((uint32_t)nc), p1 = vctp16q((uint32_t)(nc > 8 ? nc - 8 : 0));
                    int32_t acc[16];
                    int16_t part[16];
                    int32_t n = 0;
                    int16x8_t s0 = vdupq_n_s16(0), s1 = vdupq_n_s16(0);
                    for (i = 0; i < 16; ++i) {
                        acc[i] = 0;
                    }
                    /* a window as wide as the image is one run of rows * cols pixels */
                    const int32_t whole = fx0 == 0 && cols == in_w && ix0 == 0;
                    const int32_t run_n = whole ? count : cols, run_end = whole ? fy0 + (rows > 0) : fy1;
                    for (fy = fy0; fy < run_end; ++fy) {
                        const int8_t *x = in + ((size_t)(b * p->in.h + iy0 + fy) * in_w + ix0 + fx0) * c_n + c0;
                        for (fx = 0; fx < run_n;) {
                            const int32_t run = run_n - fx < 256 - n ? run_n - fx : 256 - n;
                            int32_t k;
                            if (nc == 16) {
                                for (k = 0; k < run; ++k, x += c_n) {
                                    s0 = vaddq_s16(s0, vldrbq_s16(x));
                                    s1 = vaddq_s16(s1, vldrbq_s16(x + 8));
                                }
                            } else {
                                for (k = 0; k < run; ++k, x += c_n) {
                                    s0 = vaddq_s16(s0, vldrbq_z_s16(x, p0));
                                    s1 = vaddq_s16(s1, vldrbq_z_s16(x + 8, p1));
                                }
                            }
                            fx += run;
                            n += run;
                            if (n == 256) {
                                /* flush the int16 sums before they could overflow */
                                vst1q_s16(part, s0);
                                vst1q_s16(part + 8, s1);
                                for (i = 0; i < 16; i += 4) {
                                    vst1q_s32(acc + i, vaddq_s32(vld1q_s32(acc + i), vldrhq_s32(part + i)));
                                }
                                s0 = vdupq_n_s16(0);
                                s1 = vdupq_n_s16(0);
                                n = 0;
                            }
                        }
                    }
                    vst1q_s16(part, s0);
                    vst1q_s16(part + 8, s1);
                    for (i = 0; i < nc; ++i) {
                        const int32_t a = acc[i] + part[i];
                        /* TFLM returns an error for an empty window; keep the value defined */
                        const int32_t q = count > 0 ? (a + (a > 0 ? half : -half)) / count : 0;
                        o[c0 + i] = (int8_t)ep_clamp(q, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
#endif

#if EP_KERNELS_DSP
/* the rounded mean of one channel's window sum, clamped (as ep_pool); one copy, not eight inlined */
__attribute__((noinline)) static int8_t ep_avg_out(int32_t acc, int32_t count, int32_t act_min, int32_t act_max)
{
    return (int8_t)ep_clamp(ep_round_div(acc, count), act_min, act_max);
}

/* AVERAGE_POOL_2D on the DSP extension, windows of at most 256 in-image pixels: the window sum of
 * four channels in two registers of int16 lanes (SXTAB16 adds bytes 0,2 / 1,3 of a word to the
 * lanes; |sum| <= 128 * 256 fits int16), eight channels per pass: per pixel one LDRD and four
 * SXTAB16 for eight bytes. Each lane is widened and divided once per output. */
__attribute__((noinline)) static void ep_avg_pool_dsp(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t c_n = p->in.c, in_h = p->in.h, in_w = p->in.w;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    int32_t b, oy, ox, c;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = ep_max32(0, -iy0), fy1 = ep_min32(p->kh, in_h - iy0);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ep_max32(0, -ix0), fx1 = ep_min32(p->kw, in_w - ix0);
                const int32_t rows = fy1 - fy0, cols = fx1 - fx0;
                const int32_t count = rows > 0 && cols > 0 ? rows * cols : 0;
                const int8_t *x = in + ((size_t)(b * in_h + iy0 + fy0) * in_w + ix0 + fx0) * c_n;
                const size_t row_skip = (size_t)(in_w - cols) * c_n;
                int8_t *o = out + ((size_t)(b * p->out.h + oy) * p->out.w + ox) * c_n;
                if (count == 0) {
                    /* TFLM returns an error for an empty window; keep the value defined (as ep_pool) */
                    for (c = 0; c < c_n; ++c) {
                        o[c] = (int8_t)ep_clamp(0, act_min, act_max);
                    }
                    continue;
                }
                for (c = 0; c + 8 <= c_n; c += 8) {
                    int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, r, k;
                    const int8_t *xp = x + c;
                    for (r = 0; r < rows; ++r, xp += row_skip) {
                        for (k = 0; k < cols; ++k, xp += c_n) {
                            const int32_t v0 = ep_read_s8x4(xp), v1 = ep_read_s8x4(xp + 4);
                            s0 = __sxtab16(s0, v0);
                            s1 = ep_sxtab16_ror8(s1, v0);
                            s2 = __sxtab16(s2, v1);
                            s3 = ep_sxtab16_ror8(s3, v1);
                        }
                    }
                    o[c] = ep_avg_out((int16_t)s0, count, act_min, act_max);
                    o[c + 1] = ep_avg_out((int16_t)s1, count, act_min, act_max);
                    o[c + 2] = ep_avg_out(s0 >> 16, count, act_min, act_max);
                    o[c + 3] = ep_avg_out(s1 >> 16, count, act_min, act_max);
                    o[c + 4] = ep_avg_out((int16_t)s2, count, act_min, act_max);
                    o[c + 5] = ep_avg_out((int16_t)s3, count, act_min, act_max);
                    o[c + 6] = ep_avg_out(s2 >> 16, count, act_min, act_max);
                    o[c + 7] = ep_avg_out(s3 >> 16, count, act_min, act_max);
                }
                for (; c + 4 <= c_n; c += 4) {
                    int32_t s0 = 0, s1 = 0, r, k;
                    const int8_t *xp = x + c;
                    for (r = 0; r < rows; ++r, xp += row_skip) {
                        for (k = 0; k < cols; ++k, xp += c_n) {
                            const int32_t v0 = ep_read_s8x4(xp);
                            s0 = __sxtab16(s0, v0);
                            s1 = ep_sxtab16_ror8(s1, v0);
                        }
                    }
                    o[c] = ep_avg_out((int16_t)s0, count, act_min, act_max);
                    o[c + 1] = ep_avg_out((int16_t)s1, count, act_min, act_max);
                    o[c + 2] = ep_avg_out(s0 >> 16, count, act_min, act_max);
                    o[c + 3] = ep_avg_out(s1 >> 16, count, act_min, act_max);
                }
                for (; c < c_n; ++c) {
                    int32_t s = 0, r, k;
                    const int8_t *xp = x + c;
                    for (r = 0; r < rows; ++r, xp += row_skip) {
                        for (k = 0; k < cols; ++k, xp += c_n) {
                            s += *xp;
                        }
                    }
                    o[c] = ep_avg_out(s, count, act_min, act_max);
                }
            }
        }
    }
}
#endif

void ep_avg_pool(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
#if EP_KERNELS_MVE
    ep_avg_pool_mve(p, in, out);
    return;
#endif
#if EP_KERNELS_DSP
    if (p->kh * p->kw <= 256) {
        ep_avg_pool_dsp(p, in, out);
        return;
    }
#endif
    ep_pool(p, in, out, 0);
}

#if EP_KERNELS_DSP
/* MAX_POOL_2D on the DSP extension: four channels per word, the window's maximum lane by lane
 * (two instructions per input word), then the activation clamp on the four lanes and one store.
 * The common 2x2 window whole inside the image is unrolled. Same values as ep_pool: the maximum
 * starts at -128 (an empty window gives -128, then the clamp). */
__attribute__((noinline)) static void ep_max_pool_dsp(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t c_n = p->in.c, in_h = p->in.h, in_w = p->in.w;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const uint32_t lo4 = ep_bytes4(act_min), hi4 = ep_bytes4(act_max);
    const int clamp = act_min > -128 || act_max < 127;
    const size_t row = (size_t)in_w * c_n;
    int32_t b, oy, ox, c;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = ep_max32(0, -iy0), fy1 = ep_min32(p->kh, in_h - iy0);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ep_max32(0, -ix0), fx1 = ep_min32(p->kw, in_w - ix0);
                const int32_t rows = fy1 - fy0, cols = fx1 - fx0;
                const int8_t *x = in + ((size_t)(b * in_h + iy0 + fy0) * in_w + ix0 + fx0) * c_n;
                const size_t row_skip = (size_t)(in_w - cols) * c_n;
                int8_t *o = out + ((size_t)(b * p->out.h + oy) * p->out.w + ox) * c_n;
                c = 0;
                if (rows == 2 && cols == 2) {
                    for (; c + 4 <= c_n; c += 4) {
                        const int8_t *xp = x + c;
                        const uint32_t m0 = ep_max_s8x4((uint32_t)ep_read_s8x4(xp), (uint32_t)ep_read_s8x4(xp + c_n));
                        const uint32_t m1 = ep_max_s8x4((uint32_t)ep_read_s8x4(xp + row),
                                                        (uint32_t)ep_read_s8x4(xp + row + c_n));
                        uint32_t m = ep_max_s8x4(m0, m1);
                        if (clamp) {
                            m = ep_clamp_s8x4(m, lo4, hi4);
                        }
                        memcpy(o + c, &m, 4);
                    }
                } else {
                    for (; c + 4 <= c_n; c += 4) {
                        uint32_t m = 0x80808080u;
                        const int8_t *xp = x + c;
                        int32_t r, k;
                        for (r = 0; r < rows; ++r, xp += row_skip) {
                            for (k = 0; k < cols; ++k, xp += c_n) {
                                m = ep_max_s8x4(m, (uint32_t)ep_read_s8x4(xp));
                            }
                        }
                        m = ep_clamp_s8x4(m, lo4, hi4);
                        memcpy(o + c, &m, 4);
                    }
                }
                for (; c < c_n; ++c) {
                    int32_t m = -128, r, k;
                    const int8_t *xp = x + c;
                    for (r = 0; r < rows; ++r, xp += row_skip) {
                        for (k = 0; k < cols; ++k, xp += c_n) {
                            m = ep_max32(m, *xp);
                        }
                    }
                    o[c] = (int8_t)ep_clamp(m, act_min, act_max);
                }
            }
        }
    }
}
#endif

#if EP_KERNELS_MVE
/* Helium MAX_POOL_2D: per output pixel, 16 channels per vector, the window's maximum by VMAX.S8
 * (one load and one VMAX per 16 input bytes); the 2x2 window whole inside the image is unrolled.
 * The activation clamp only where it narrows the int8 range. Channel tails are predicated (the
 * loads read and the stores write only the lanes below c_n). Same values as ep_pool: the maximum
 * starts at -128 (an empty window gives -128, then the clamp). */
__attribute__((noinline)) static void ep_max_pool_mve(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
    const int32_t c_n = p->in.c, in_h = p->in.h, in_w = p->in.w;
    const int8x16_t lo = vdupq_n_s8((int8_t)ep_clamp(p->act_min, -128, 127));
    const int8x16_t hi = vdupq_n_s8((int8_t)ep_clamp(p->act_max, -128, 127));
    const int clamp = p->act_min > -128 || p->act_max < 127;
    const size_t row = (size_t)in_w * c_n;
    int32_t b, oy, ox, c;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < p->out.h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int32_t fy0 = ep_max32(0, -iy0), fy1 = ep_min32(p->kh, in_h - iy0);
            for (ox = 0; ox < p->out.w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fx0 = ep_max32(0, -ix0), fx1 = ep_min32(p->kw, in_w - ix0);
                const int32_t rows = fy1 - fy0, cols = fx1 - fx0;
                const int8_t *x = in + ((size_t)(b * in_h + iy0 + fy0) * in_w + ix0 + fx0) * c_n;
                const size_t row_skip = (size_t)(in_w - cols) * c_n;
                int8_t *o = out + ((size_t)(b * p->out.h + oy) * p->out.w + ox) * c_n;
                for (c = 0; c < c_n; c += 16) {
                    const mve_pred16_t pr = vctp8q((uint32_t)(c_n - c));
                    const int8_t *xp = x + c;
                    int8x16_t m;
                    if (rows == 2 && cols == 2) {
                        m = vmaxq_s8(vmaxq_s8(vldrbq_z_s8(xp, pr), vldrbq_z_s8(xp + c_n, pr)),
                                     vmaxq_s8(vldrbq_z_s8(xp + row, pr), vldrbq_z_s8(xp + row + c_n, pr)));
                    } else {
                        int32_t r, k;
                        m = vdupq_n_s8(-128);
                        for (r = 0; r < rows; ++r, xp += row_skip) {
                            for (k = 0; k < cols; ++k, xp += c_n) {
                                m = vmaxq_s8(m, vldrbq_z_s8(xp, pr));
                            }
                        }
                    }
                    if (clamp) {
                        m = vminq_s8(vmaxq_s8(m, lo), hi);
                    }
                    vstrbq_p_s8(o + c, m, pr);
                }
            }
        }
    }
}
#endif

void ep_max_pool(const ep_pool_params *p, const int8_t *in, int8_t *out)
{
#if EP_KERNELS_MVE
    ep_max_pool_mve(p, in, out);
    return;
#endif
#if EP_KERNELS_DSP
    ep_max_pool_dsp(p, in, out);
    return;
#endif
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
