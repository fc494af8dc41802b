/* CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED: TFLM reference_integer_ops arithmetic
 * (int32 accumulation of filter * (input + input_offset), bias, per-channel requantization). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_simd.h"
#include "ep_simd_block.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* per-channel requantization, output offset, activation clamp (after the bias is added) */
static inline int8_t ep_requant_out(int32_t acc, int32_t mult, int32_t shift, int32_t out_offset,
                                    int32_t act_min, int32_t act_max)
{
    return (int8_t)ep_clamp(ep_mbqm(acc, mult, shift) + out_offset, act_min, act_max);
}

#if EP_KERNELS_DSP || EP_KERNELS_MVE
/* Largest filter (kh * kw * in_c bytes) the blocked path takes; its patch buffers are on the stack. */
#define EP_COL_MAX EP_VEC_MAX

/* short copies and fills for the im2col rows (runs of a few bytes when in_c is small: a library
 * call per run costs more than the bytes), a word at a time through unaligned LDR/STR */
static inline void ep_copy(int8_t *d, const int8_t *s, int32_t n)
{
    for (; n >= 4; n -= 4, d += 4, s += 4) {
        uint32_t v;
        memcpy(&v, s, 4);
        memcpy(d, &v, 4);
    }
    for (; n > 0; --n) {
        *d++ = *s++;
    }
}

static inline void ep_fill(int8_t *d, int8_t value, int32_t n)
{
    const uint32_t v = 0x01010101u * (uint8_t)value;
    for (; n >= 4; n -= 4, d += 4) {
        memcpy(d, &v, 4);
    }
    for (; n > 0; --n) {
        *d++ = value;
    }
}

/* The input patch of output pixel `pix` (flattened n, y, x) as one contiguous run of kh*kw*in_c
 * bytes: a pointer into the input for a 1x1 unpadded filter, else gathered into col (im2col, as
 * CMSIS-NN's arm_convolve_s8). Padding taps are filled with -in_offset (an int8: in_offset is minus
 * an int8 zero point), which makes their terms w * (x + in_offset) exactly 0. */
#if defined(__GNUC__) && !defined(__clang__)
/* gcc would turn ep_copy/ep_fill back into memcpy/memset calls, the calls this avoids */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
static const int8_t *ep_patch(const ep_conv_params *p, const int8_t *in, int32_t pix, int8_t *col)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kh = p->kh, kw = p->kw;
    const int32_t dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t ox = pix % p->out.w, oy = (pix / p->out.w) % p->out.h, b = pix / (p->out.w * p->out.h);
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int8_t pad = (int8_t)-p->in_offset;
    int8_t *c = col;
    int32_t fy, fx;
    if (kh == 1 && kw == 1 && p->pad_h == 0 && p->pad_w == 0) {
        return in + ((size_t)(b * in_h + iy0) * in_w + ix0) * in_c;
    }
    if (dil_w == 1 && iy0 >= 0 && iy0 + dil_h * (kh - 1) < in_h && ix0 >= 0 && ix0 + kw <= in_w) {
        /* the window inside the image: kh runs of kw * in_c bytes */
        const int32_t run = kw * in_c;
        const size_t x_row = (size_t)in_w * in_c * dil_h;
        const int8_t *src = in + ((size_t)(b * in_h + iy0) * in_w + ix0) * in_c;
        for (fy = 0; fy < kh; ++fy, src += x_row, c += run) {
            ep_copy(c, src, run);
        }
        return col;
    }
    for (fy = 0; fy < kh; ++fy) {
        const int32_t iy = iy0 + dil_h * fy;
        if (dil_w == 1 && iy >= 0 && iy < in_h) {
            /* undilated row: padding, one run of in-image taps, padding */
            const int32_t fx0 = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0;
            const int32_t fx1 = in_w - ix0 < kw ? (in_w - ix0 > fx0 ? in_w - ix0 : fx0) : kw;
            ep_fill(c, pad, fx0 * in_c);
            ep_copy(c + fx0 * in_c, in + ((size_t)(b * in_h + iy) * in_w + ix0 + fx0) * in_c, (fx1 - fx0) * in_c);
            ep_fill(c + fx1 * in_c, pad, (kw - fx1) * in_c);
            c += kw * in_c;
            continue;
        }
        for (fx = 0; fx < kw; ++fx, c += in_c) {
            const int32_t ix = ix0 + dil_w * fx;
            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                ep_fill(c, pad, in_c);
            } else {
                ep_copy(c, in + ((size_t)(b * in_h + iy) * in_w + ix) * in_c, in_c);
            }
        }
    }
    return col;
}

#if EP_KERNELS_MVE
/* 1x1, stride 1, unpadded (pointwise) on Helium: four output channels outer, pixels inner, so the
 * four channels' kernel sums, multipliers and shifts stay in vector registers for the whole
 * layer, and a filter of at most 16 bytes (the narrow layers of MobileNets) stays loaded too. */
__attribute__((noinline)) static void ep_conv1x1_mve(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t out_c = p->out.c, k = p->in.c, npix = p->out.n * p->out.h * p->out.w;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max), zero = vdupq_n_s32(0);
    const int32_t out_offset = p->out_offset;
    ep_patches v;
    int32_t oc, q, c;

    for (oc = 0; oc < out_c; oc += 4) {
        const int32_t nc = out_c - oc < 4 ? out_c - oc : 4;
        const mve_pred16_t pc = vctp32q((uint32_t)nc);
        const int32x4_t ks = vldrwq_z_s32(p->kernel_sums + oc, pc);
        const int32x4_t m = vldrwq_z_s32(p->mult + oc, pc), sh = vldrwq_z_s32(p->shift + oc, pc);
        const int32x4_t left = vmaxq_s32(sh, zero), right = vminq_s32(sh, zero);
        const int8_t *w[4];
        int8_t *o = out + oc;
        w[0] = p->weights + (size_t)oc * k;
        for (c = 1; c < 4; ++c) {
            w[c] = c < nc ? w[c - 1] + k : w[c - 1];
        }
        if (k <= 16) {
            const mve_pred16_t pk = vctp8q((uint32_t)k);
            const int8x16_t w0 = vldrbq_z_s8(w[0], pk), w1 = vldrbq_z_s8(w[1], pk);
            const int8x16_t w2 = vldrbq_z_s8(w[2], pk), w3 = vldrbq_z_s8(w[3], pk);
            const int8_t *x = in;
            for (q = 0; q < npix; ++q, x += k, o += out_c) {
                const int8x16_t xv = vldrbq_z_s8(x, pk);
                int32x4_t a = vdupq_n_s32(vmladavq_s8(xv, w0));
                a = vsetq_lane_s32(vmladavq_s8(xv, w1), a, 1);
                a = vsetq_lane_s32(vmladavq_s8(xv, w2), a, 2);
                a = vsetq_lane_s32(vmladavq_s8(xv, w3), a, 3);
                a = vshlq_s32(vaddq_s32(a, ks), left);
                a = vqrdmulhq_s32(a, m);
                a = vrshlq_s32(vqaddq_s32(a, vshrq_n_s32(vandq_s32(a, right), 31)), right);
                a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, out_offset), lo), hi);
                vstrbq_p_s32(o, a, pc);
            }
        } else {
            for (q = 0; q < npix; ++q, o += out_c) {
                int32x4_t a;
                ep_patch_set(&v, 0, in + (size_t)q * k, k, 0);
                a = vshlq_s32(vaddq_s32(ep_block_dot4(&v, w), ks), left);
                a = vqrdmulhq_s32(a, m);
                a = vrshlq_s32(vqaddq_s32(a, vshrq_n_s32(vandq_s32(a, right), 31)), right);
                a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, out_offset), lo), hi);
                vstrbq_p_s32(o, a, pc);
            }
        }
    }
}
#endif

#if EP_KERNELS_DSP
/* im2col and widening in one pass for filters whose rows are whole groups of four inputs
 * (ep_patch_widens): a row of taps inside the image is widened straight from the input (x +
 * in_offset, SXTAB16), a row outside it is zero words (pad + in_offset = 0: the reference skips
 * those taps, their terms are 0), and a row cut by the left or right border is gathered byte by
 * byte, its padding bytes -in_offset. The patch is never copied to an im2col buffer first. */
static int ep_patch_widens(const ep_conv_params *p)
{
    return p->in.c % 4 == 0 || (p->dil_w == 1 && (p->kw * p->in.c) % 4 == 0);
}

static void ep_patch_widen(const ep_conv_params *p, const int8_t *in, int32_t pix, ep_patches *v, int32_t px)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kh = p->kh, kw = p->kw;
    const int32_t dil_h = p->dil_h, dil_w = p->dil_w, run = kw * in_c;
    const int32_t ox = pix % p->out.w, oy = (pix / p->out.w) % p->out.h, b = pix / (p->out.w * p->out.h);
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t off2 = ep_offset_x2(p->in_offset);
    const int row_inside = ix0 >= 0 && ix0 + kw <= in_w;
    int32_t *d = v->wide + 2 * px;
    int32_t fy, i;
    v->n = kh * run;
    v->n4 = v->n;
    for (fy = 0; fy < kh; ++fy) {
        const int32_t iy = iy0 + dil_h * fy;
        const int8_t *row;
        if (iy < 0 || iy >= in_h) {
            for (i = 0; i < run; i += 4, d += 4) {
                d[0] = 0;
                d[1] = 0;
            }
            continue;
        }
        row = in + (size_t)(b * in_h + iy) * in_w * in_c;
        if (row_inside && dil_w == 1) {
            /* one run of kw * in_c bytes */
            const int8_t *x = row + (size_t)ix0 * in_c;
            for (i = 0; i < run; i += 4, d += 4) {
                const int32_t xv = ep_read_s8x4(x + i);
                EP_DSP_WIDEN_X(xv, off2, d[0], d[1]);
            }
        } else if (in_c % 4 == 0) {
            /* whole groups per tap; taps outside the image are zero words */
            int32_t fx;
            for (fx = 0; fx < kw; ++fx) {
                const int32_t ix = ix0 + dil_w * fx;
                if (ix < 0 || ix >= in_w) {
                    for (i = 0; i < in_c; i += 4, d += 4) {
                        d[0] = 0;
                        d[1] = 0;
                    }
                } else {
                    const int8_t *x = row + (size_t)ix * in_c;
                    for (i = 0; i < in_c; i += 4, d += 4) {
                        const int32_t xv = ep_read_s8x4(x + i);
                        EP_DSP_WIDEN_X(xv, off2, d[0], d[1]);
                    }
                }
            }
        } else {
            for (i = 0; i < run; i += 4, d += 4) {
                uint32_t word = 0;
                int32_t j;
                for (j = 0; j < 4; ++j) {
                    const int32_t tap = (i + j) / in_c, ix = ix0 + dil_w * tap;
                    const int8_t x = ix >= 0 && ix < in_w ? row[(size_t)ix * in_c + i + j - tap * in_c]
                                                          : (int8_t)-p->in_offset;
                    word |= (uint32_t)(uint8_t)x << (8 * j);
                }
                EP_DSP_WIDEN_X((int32_t)word, off2, d[0], d[1]);
            }
        }
    }
}
#endif

#if EP_KERNELS_DSP
/* What ep_conv_pairs_dsp needs for one pixel pair; filled once per layer (but the patches). */
typedef struct {
    const ep_patches *v;
    const int8_t *weights;
    const int32_t *bias, *mult, *shift;
    int32_t k, pairs, off2p1;
    uint32_t lo4, hi4;
} ep_dsp_pass;

/* Every full pair of output channels of one pixel pair, for layers that pass ep_dsp_rq_ok: the
 * 2x2 SMLAD loop of ep_block_dot with the four accumulators in registers, then both pixels' two
 * channels requantized into one word, clamped as four byte lanes and stored as two halfwords (the
 * last pixel of a short block is stored twice, with the same values). Not inlined: the assembly
 * loop needs 14 registers, and on its own the function keeps the rest in a few stack slots. */
__attribute__((noinline)) static void ep_conv_pairs_dsp(const ep_dsp_pass *cx, int8_t *o0, int8_t *o1)
{
    const ep_patches *const v = cx->v;
    const int32_t k = cx->k, n4 = v->n4, n8 = v->n & ~7, tail = v->n - v->n4, off2p1 = cx->off2p1;
    const int32_t *const bias = cx->bias, *const mult = cx->mult, *const shift = cx->shift;
    const int32_t n16 = v->n & ~15;
    const int32_t *const wide = v->wide, *const xend = wide + n16;
    const int8_t *wrow = cx->weights;
    int32_t oc, i;
    for (oc = 0; oc < 2 * cx->pairs; oc += 2, wrow += 2 * k) {
        int32_t a00 = bias != NULL ? bias[oc] : 0, a10 = bias != NULL ? bias[oc + 1] : 0;
        int32_t a01 = a00, a11 = a10;
        const int8_t *w0 = wrow, *w1 = wrow + k;
        const int32_t *xw = wide;
        int32_t p0a, p0b, p1a, p1b, wa, wb;
        uint32_t y;
        uint16_t h;
        if (n16 > 0) {
            /* sixteen inputs (64 MACs) per iteration: the compare and branch are 2 of 66 */
            __asm__ volatile("1:\n\t" EP_DSP_2X2_ASM EP_DSP_2X2_ASM EP_DSP_2X2_ASM EP_DSP_2X2_ASM
                             "cmp    %[xw], %[xend]\n\t"
                             "bne    1b\n\t"
                             : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                               [w0] "+r"(w0), [w1] "+r"(w1), [xw] "+r"(xw), [p0a] "=&r"(p0a), [p0b] "=&r"(p0b),
                               [p1a] "=&r"(p1a), [p1b] "=&r"(p1b), [wa] "=&r"(wa), [wb] "=&r"(wb)
                             : [xend] "r"(xend)
                             : "cc", "memory");
        }
        if (n16 < n8) {
            __asm__ volatile(EP_DSP_2X2_ASM EP_DSP_2X2_ASM
                             : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                               [w0] "+r"(w0), [w1] "+r"(w1), [xw] "+r"(xw), [p0a] "=&r"(p0a), [p0b] "=&r"(p0b),
                               [p1a] "=&r"(p1a), [p1b] "=&r"(p1b), [wa] "=&r"(wa), [wb] "=&r"(wb)
                             :
                             : "memory");
        }
        if (n8 < n4) {
            __asm__ volatile(EP_DSP_2X2_ASM
                             : [a00] "+r"(a00), [a01] "+r"(a01), [a10] "+r"(a10), [a11] "+r"(a11),
                               [w0] "+r"(w0), [w1] "+r"(w1), [xw] "+r"(xw), [p0a] "=&r"(p0a), [p0b] "=&r"(p0b),
                               [p1a] "=&r"(p1a), [p1b] "=&r"(p1b), [wa] "=&r"(wa), [wb] "=&r"(wb)
                             :
                             : "memory");
        }
        for (i = 0; i < tail; ++i) {
            const int32_t f0 = w0[i], f1 = w1[i], x0 = v->tail[0][i], x1 = v->tail[1][i];
            a00 += f0 * x0;
            a01 += f0 * x1;
            a10 += f1 * x0;
            a11 += f1 * x1;
        }
        {
            const int32_t m0 = mult[oc], m1 = mult[oc + 1], s0 = shift[oc], s1 = shift[oc + 1];
            y = ep_clamp_s8x4(ep_pack_s8x4(ep_dsp_rq(a00, m0, s0, off2p1), ep_dsp_rq(a10, m1, s1, off2p1),
                                           ep_dsp_rq(a01, m0, s0, off2p1), ep_dsp_rq(a11, m1, s1, off2p1)),
                              cx->lo4, cx->hi4);
        }
        h = (uint16_t)(y >> 16);
        memcpy(o1 + oc, &h, 2);
        h = (uint16_t)y;
        memcpy(o0 + oc, &h, 2);
    }
}
#endif

#if EP_KERNELS_MVE
/* Every full group of four output channels of one pixel (x: its k-byte patch): the four filters'
 * VMLADAVA loop with one filter pointer per channel advanced by one add each, the four sums moved
 * into one vector, kernel_sums added and an unpredicated vector requantization (ep_requant4_full).
 * Not inlined: on its own the function keeps its pointers in registers. */
__attribute__((noinline)) static void ep_conv_groups_mve(const ep_conv_params *p, const int8_t *x, int32_t k,
                                                         int32_t groups, int8_t *o)
{
    const int32_t k16 = k & ~15, rest = k - k16;
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const ks = p->kernel_sums, *const mult = p->mult, *const shift = p->shift;
    const int8_t *wrow = p->weights;
    int32_t g, i;
    for (g = 0; g < groups; ++g, wrow += 4 * k) {
        const int8_t *w0 = wrow, *w1 = wrow + k, *w2 = wrow + 2 * k, *w3 = wrow + 3 * k, *xp = x;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32x4_t acc;
        for (i = 0; i < k16; i += 16, xp += 16, w0 += 16, w1 += 16, w2 += 16, w3 += 16) {
            const int8x16_t xv = vldrbq_s8(xp);
            a0 = vmladavaq_s8(a0, xv, vldrbq_s8(w0));
            a1 = vmladavaq_s8(a1, xv, vldrbq_s8(w1));
            a2 = vmladavaq_s8(a2, xv, vldrbq_s8(w2));
            a3 = vmladavaq_s8(a3, xv, vldrbq_s8(w3));
        }
        if (rest > 0) {
            const mve_pred16_t pr = vctp8q((uint32_t)rest);
            const int8x16_t xv = vldrbq_z_s8(xp, pr);
            a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, pr));
            a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, pr));
            a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, pr));
            a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, pr));
        }
        acc = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
        ep_requant4_full(vaddq_s32(acc, vldrwq_s32(ks + 4 * g)), mult + 4 * g, shift + 4 * g, out_offset,
                         act_min, act_max, o + 4 * g);
    }
}
#endif

#if EP_KERNELS_MVE
/* A window inside the image whose filter rows are at most 16 bytes (kw * in_c: the 3x3x3 stems,
 * KWS's 10x4x1), every group of four output channels: one predicated vector per filter row read
 * straight from the input (inactive lanes load nothing), no im2col copy. */
__attribute__((noinline)) static void ep_conv_rows_mve(const ep_conv_params *p, const int8_t *x, int32_t groups,
                                                       int8_t *o)
{
    const int32_t kh = p->kh, run = p->kw * p->in.c, x_row = p->in.w * p->in.c * p->dil_h, k = kh * run;
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const ks = p->kernel_sums, *const mult = p->mult, *const shift = p->shift;
    const mve_pred16_t pr = vctp8q((uint32_t)run);
    const int8_t *wrow = p->weights;
    int32_t g, r;
    for (g = 0; g < groups; ++g, wrow += 4 * k) {
        const int8_t *w0 = wrow, *w1 = wrow + k, *w2 = wrow + 2 * k, *w3 = wrow + 3 * k, *xp = x;
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32x4_t acc;
        for (r = 0; r < kh; ++r, xp += x_row, w0 += run, w1 += run, w2 += run, w3 += run) {
            const int8x16_t xv = vldrbq_z_s8(xp, pr);
            a0 = vmladavaq_s8(a0, xv, vldrbq_z_s8(w0, pr));
            a1 = vmladavaq_s8(a1, xv, vldrbq_z_s8(w1, pr));
            a2 = vmladavaq_s8(a2, xv, vldrbq_z_s8(w2, pr));
            a3 = vmladavaq_s8(a3, xv, vldrbq_z_s8(w3, pr));
        }
        acc = vsetq_lane_s32(a3, vsetq_lane_s32(a2, vsetq_lane_s32(a1, vdupq_n_s32(a0), 1), 2), 3);
        ep_requant4_full(vaddq_s32(acc, vldrwq_s32(ks + 4 * g)), mult + 4 * g, shift + 4 * g, out_offset,
                         act_min, act_max, o + 4 * g);
    }
}
#endif

/* Ungrouped convolution, EP_BLOCK_PX output pixels x EP_BLOCK_CH output channels per pass
 * (ep_simd_block.h). A short last block of pixels repeats the last pixel, a short block of
 * channels repeats its last filter: the duplicates read valid memory and are not stored. */
/* not inlined into ep_conv2d_block: the buffers' variable sizes there make gcc keep a frame
 * pointer, and the DSP loop's inline assembly needs every other register */
__attribute__((noinline)) static void ep_conv2d_block_run(const ep_conv_params *p, const int8_t *in, int8_t *out,
                                                          int8_t *col, int32_t *wide)
{
    const int32_t out_c = p->out.c, k = p->kh * p->kw * p->in.c;
    const int32_t npix = p->out.n * p->out.h * p->out.w;
    const int32_t in_offset = p->in_offset, out_offset = p->out_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int8_t *const weights = p->weights;
    const int32_t *const init = EP_BLOCK_FOLDS_OFFSET ? p->kernel_sums : p->bias;
    const int32_t *const mult = p->mult, *const shift = p->shift;
    const int direct = p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0;
    ep_patches v;
    int32_t pix, px, oc, c;
#if EP_KERNELS_DSP
    const int32_t *const bias = p->bias;
    const int fast = ep_dsp_rq_ok(bias, shift, out_c, k);
    const int32_t off2p1 = 2 * out_offset + 1;
    const uint32_t lo4 = ep_bytes4(act_min), hi4 = ep_bytes4(act_max);
    ep_dsp_pass pass;
    v.wide = wide;
    pass.v = &v;
    pass.weights = weights;
    pass.bias = bias;
    pass.mult = mult;
    pass.shift = shift;
    pass.k = k;
    pass.pairs = out_c / 2;
    pass.off2p1 = off2p1;
    pass.lo4 = lo4;
    pass.hi4 = hi4;
#else
    (void)wide;
#endif

#if EP_KERNELS_MVE
    /* row vectors instead of im2col when they are not many more than the patch's vectors (the
     * stems' 3 rows of 9 bytes: yes; KWS's 10 rows of 4 bytes: no) */
    const int rows_ok = !direct && p->dil_w == 1 && p->kw * p->in.c <= 16 && out_c % 4 == 0 &&
                        p->kernel_sums != NULL && p->kh <= 2 * ((k + 15) / 16);
#endif
    for (pix = 0; pix < npix; pix += EP_BLOCK_PX) {
        int8_t *o[EP_BLOCK_PX];
#if EP_KERNELS_MVE
        if (rows_ok) {
            const int32_t ox = pix % p->out.w, oy = (pix / p->out.w) % p->out.h, b = pix / (p->out.w * p->out.h);
            const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
            if (iy0 >= 0 && iy0 + p->dil_h * (p->kh - 1) < p->in.h && ix0 >= 0 && ix0 + p->kw <= p->in.w) {
                ep_conv_rows_mve(p, in + ((size_t)(b * p->in.h + iy0) * p->in.w + ix0) * p->in.c, out_c / 4,
                                 out + (size_t)pix * out_c);
                continue;
            }
        }
#endif
        for (px = 0; px < EP_BLOCK_PX; ++px) {
            const int32_t q = pix + px < npix ? pix + px : npix - 1;
#if EP_KERNELS_DSP
            if (!direct && ep_patch_widens(p)) {
                ep_patch_widen(p, in, q, &v, px);
                o[px] = out + (size_t)q * out_c;
                continue;
            }
#endif
            /* the DSP patches are widened copies, so one col buffer serves every pixel */
            ep_patch_set(&v, px, ep_patch(p, in, q, col + (EP_BLOCK_FOLDS_OFFSET && !direct ? px * k : 0)),
                         k, in_offset);
            o[px] = out + (size_t)q * out_c;
        }
        oc = 0;
#if EP_KERNELS_MVE
        ep_conv_groups_mve(p, v.x, k, out_c / 4, o[0]);
        oc = out_c & ~3;
#endif
#if EP_KERNELS_DSP
        if (fast) {
            ep_conv_pairs_dsp(&pass, o[0], o[1]);
            oc = 2 * pass.pairs;
        }
#endif
        for (; oc < out_c; oc += EP_BLOCK_CH) {
            const int32_t nc = out_c - oc < EP_BLOCK_CH ? out_c - oc : EP_BLOCK_CH;
            const int8_t *w[EP_BLOCK_CH];
            w[0] = weights + (size_t)oc * k;
            for (c = 1; c < EP_BLOCK_CH; ++c) {
                w[c] = c < nc ? w[c - 1] + k : w[c - 1];
            }
#if EP_KERNELS_MVE
            ep_requant4(vaddq_s32(ep_block_dot4(&v, w), vldrwq_z_s32(init + oc, vctp32q((uint32_t)nc))),
                        mult + oc, shift + oc, out_offset, act_min, act_max, o[0] + oc, nc);
#else
            if (fast && nc == 2) {
                /* both pixels' two channels requantized into the four bytes of one word, clamped
                 * as four lanes, stored as two halfwords */
                int32_t acc[4];
                uint32_t y;
                uint16_t h;
                acc[0] = bias != NULL ? bias[oc] : 0;
                acc[1] = bias != NULL ? bias[oc + 1] : 0;
                acc[2] = acc[0];
                acc[3] = acc[1];
                ep_block_dot(&v, w, acc);
                {
                    const int32_t m0 = mult[oc], m1 = mult[oc + 1], s0 = shift[oc], s1 = shift[oc + 1];
                    y = ep_clamp_s8x4(ep_pack_s8x4(ep_dsp_rq(acc[0], m0, s0, off2p1), ep_dsp_rq(acc[1], m1, s1, off2p1),
                                                   ep_dsp_rq(acc[2], m0, s0, off2p1), ep_dsp_rq(acc[3], m1, s1, off2p1)),
                                      lo4, hi4);
                }
                /* the last pixel of a short block is stored twice, with the same values */
                h = (uint16_t)(y >> 16);
                memcpy(o[1] + oc, &h, 2);
                h = (uint16_t)y;
                memcpy(o[0] + oc, &h, 2);
            } else {
                /* 2 x 2: acc = {px0 ch0, px0 ch1, px1 ch0, px1 ch1} */
                const int32_t c1 = oc + nc - 1;
                const int32_t b0 = init != NULL ? init[oc] : 0, b1 = init != NULL ? init[c1] : 0;
                int32_t acc[4];
                acc[0] = b0;
                acc[1] = b1;
                acc[2] = b0;
                acc[3] = b1;
                ep_block_dot(&v, w, acc);
                /* the last pixel of a short block is stored twice, with the same values */
                o[1][oc] = ep_requant_fast(acc[2], mult[oc], shift[oc], out_offset, act_min, act_max);
                o[0][oc] = ep_requant_fast(acc[0], mult[oc], shift[oc], out_offset, act_min, act_max);
                if (nc > 1) {
                    o[1][c1] = ep_requant_fast(acc[3], mult[c1], shift[c1], out_offset, act_min, act_max);
                    o[0][c1] = ep_requant_fast(acc[1], mult[c1], shift[c1], out_offset, act_min, act_max);
                }
            }
#endif
        }
    }
}

/* Buffers sized by the layer (k <= EP_COL_MAX), so the stack holds what this layer needs: a 1x1
 * unpadded filter reads its patch in place and needs no im2col buffer. */
__attribute__((noinline)) static void ep_conv2d_block(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t k = p->kh * p->kw * p->in.c;
    const int direct = p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0;
#if EP_KERNELS_DSP
    /* ep_patch_widen needs no im2col buffer */
    int8_t col[direct || ep_patch_widens(p) ? 1 : k];
#else
    int8_t col[direct ? 1 : (EP_BLOCK_FOLDS_OFFSET ? EP_BLOCK_PX : 1) * k];
#endif
#if EP_KERNELS_DSP
    int32_t wide[k >= 4 ? k & ~3 : 1];
    ep_conv2d_block_run(p, in, out, col, wide);
#else
    ep_conv2d_block_run(p, in, out, col, NULL);
#endif
}
#endif

/* the reference loop (also every shape the blocked paths do not take) */
__attribute__((noinline)) static void ep_conv2d_generic(const ep_conv_params *p, const int8_t *in, int8_t *out)
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
    int32_t b, oy, ox, oc, fy, fx, pair = 0;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = in_w - ix0 < kw ? in_w - ix0 : kw;
                int8_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * out_c;
                /* output channels in pairs of one group: both filters see the same input runs,
                 * which the optimized dot products load once */
                for (oc = 0; oc < out_c; oc += pair ? 2 : 1) {
                    const int32_t group_c0 = (oc / filters_per_group) * fic;
                    const int8_t *wo = weights + (size_t)oc * kh * kw * fic;
                    const int8_t *wo1 = wo + (size_t)kh * kw * fic;
                    int32_t acc = 0, acc1 = 0;
                    pair = oc + 1 < out_c && (oc + 1) % filters_per_group != 0;
                    for (fy = 0; fy < kh; ++fy) {
                        const int32_t iy = iy0 + dil_h * fy;
                        const int8_t *irow;
                        const size_t wrow = (size_t)fy * kw * fic;
                        if (iy < 0 || iy >= in_h) {
                            continue;
                        }
                        irow = in + (size_t)(b * in_h + iy) * in_w * in_c + group_c0;
                        if (contiguous) {
                            /* the in-image taps of this filter row are one run of memory in both
                             * the input and the weights: a single dot product */
                            const size_t wx = wrow + (size_t)fx0 * fic;
                            const int8_t *x = irow + (size_t)(ix0 + fx0) * in_c;
                            if (fx1 <= fx0) {
                                continue;
                            }
                            if (pair) {
                                ep_dot2(wo + wx, wo1 + wx, x, (fx1 - fx0) * fic, in_offset, &acc, &acc1);
                            } else {
                                acc += ep_dot(wo + wx, x, (fx1 - fx0) * fic, in_offset);
                            }
                            continue;
                        }
                        for (fx = 0; fx < kw; ++fx) {
                            const int32_t ix = ix0 + dil_w * fx;
                            const size_t wx = wrow + (size_t)fx * fic;
                            const int8_t *x = irow + (size_t)ix * in_c;
                            if (ix < 0 || ix >= in_w) {
                                continue;
                            }
                            if (pair) {
                                ep_dot2(wo + wx, wo1 + wx, x, fic, in_offset, &acc, &acc1);
                            } else {
                                acc += ep_dot(wo + wx, x, fic, in_offset);
                            }
                        }
                    }
                    if (bias != NULL) {
                        acc += bias[oc];
                        acc1 += pair ? bias[oc + 1] : 0;
                    }
                    o[oc] = ep_requant_out(acc, mult[oc], shift[oc], out_offset, act_min, act_max);
                    if (pair) {
                        o[oc + 1] = ep_requant_out(acc1, mult[oc + 1], shift[oc + 1], out_offset,
                                                   act_min, act_max);
                    }
                }
            }
        }
    }
}

/* Each path is its own function (none inlined here), so the stack holds only the frame of the one
 * a layer takes. */
void ep_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
#if EP_KERNELS_DSP || EP_KERNELS_MVE
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, fic = p->filter_in_c;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
#if EP_KERNELS_MVE
    /* channels outer: every input pixel is read again after outputs were written, so the output
     * must not overlap the input (the planner may let it trail the input rows, see codegen.LAG_OPS) */
    if (fic == in_c && kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && p->pad_h == 0 && p->pad_w == 0 &&
        p->kernel_sums != NULL && in_c <= 32 &&
        ((uintptr_t)(out + (size_t)p->out.n * out_h * out_w * out_c) <= (uintptr_t)in ||
         (uintptr_t)(in + (size_t)p->in.n * in_h * in_w * in_c) <= (uintptr_t)out)) {
        ep_conv1x1_mve(p, in, out);
        return;
    }
#endif
    if (fic == in_c && kh * kw * in_c <= EP_COL_MAX && (!EP_BLOCK_FOLDS_OFFSET || p->kernel_sums != NULL)) {
        ep_conv2d_block(p, in, out);
        return;
    }
    (void)in_h;
    (void)in_w;
    (void)out_h;
    (void)out_w;
    (void)out_c;
    (void)stride_h;
    (void)stride_w;
#endif
    ep_conv2d_generic(p, in, out);
}

#define EP_DW_BLOCK 32

/* The same sums as the generic loop, accumulated tap by tap over a block of output channels
 * (whole depth-multiplier groups) so the innermost loop walks contiguous memory. */
__attribute__((noinline)) static void ep_depthwise_conv2d_blocked(const ep_conv_params *p, const int8_t *in, int8_t *out)
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

#if EP_KERNELS_DSP || EP_KERNELS_MVE
/* Undilated depthwise with depth multiplier 1 or a multiple of 4 (every depthwise layer of the
 * usual KWS / MobileNet / micro_speech models): per output pixel the in-image taps form one
 * rows x cols window, walked once per block of EP_DW_LANES output channels with the accumulators
 * in registers (ep_simd.h). Padding taps are skipped, as in the reference. */
__attribute__((noinline)) static void ep_depthwise_conv2d_simd(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    ep_dw_window win;
    int32_t acc[EP_DW_LANES];
    int32_t b, oy, ox, oc0, c;

    win.x_col = in_c;
    win.x_row = in_w * in_c;
    win.w_col = out_c;
    win.w_row = kw * out_c;
    win.dm = p->depth_multiplier;
    win.in_offset = p->in_offset;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
            const int32_t fy1 = in_h - iy0 < kh ? in_h - iy0 : kh;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = in_w - ix0 < kw ? in_w - ix0 : kw;
                int8_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * out_c;
                const int8_t *x = in + ((size_t)(b * in_h + iy0 + fy0) * in_w + ix0 + fx0) * in_c;
                const int8_t *w = weights + ((size_t)fy0 * kw + fx0) * out_c;
                /* a window entirely in the padding has no taps: the sums are 0 */
                win.rows = fy1 > fy0 ? fy1 - fy0 : 0;
                win.cols = fx1 > fx0 ? fx1 - fx0 : 0;
#if EP_KERNELS_MVE
                /* a window without padding taps starts from the kernel sums (bias + in_offset * sum
                 * of the channel's taps) and leaves the offset out of its loop */
                const int fold = p->kernel_sums != NULL && win.dm == 1 && win.rows == kh && win.cols == kw;
                const int32_t *const init = fold ? p->kernel_sums : bias;
                win.in_offset = fold ? 0 : p->in_offset;
#endif
                oc0 = 0;
#if EP_KERNELS_MVE
                if (fold && kh == 3 && kw == 3) {
                    /* a 3x3 window inside the image, eight channels per pass: nine taps unrolled,
                     * two accumulators, no call and no loop over taps */
                    const int32_t xr = win.x_row, wr = win.w_row, cs = in_c;
                    for (; oc0 + 8 <= out_c; oc0 += 8) {
                        const int8_t *xp = x + oc0, *wp = w + oc0;
                        int32x4_t a0 = vldrwq_s32(init + oc0), a1 = vldrwq_s32(init + oc0 + 4);
                        int32_t rr;
                        for (rr = 0; rr < 3; ++rr, xp += xr, wp += wr) {
                            a0 = vaddq_s32(a0, vmulq_s32(vldrbq_s32(xp), vldrbq_s32(wp)));
                            a1 = vaddq_s32(a1, vmulq_s32(vldrbq_s32(xp + 4), vldrbq_s32(wp + 4)));
                            a0 = vaddq_s32(a0, vmulq_s32(vldrbq_s32(xp + cs), vldrbq_s32(wp + cs)));
                            a1 = vaddq_s32(a1, vmulq_s32(vldrbq_s32(xp + cs + 4), vldrbq_s32(wp + cs + 4)));
                            a0 = vaddq_s32(a0, vmulq_s32(vldrbq_s32(xp + 2 * cs), vldrbq_s32(wp + 2 * cs)));
                            a1 = vaddq_s32(a1, vmulq_s32(vldrbq_s32(xp + 2 * cs + 4), vldrbq_s32(wp + 2 * cs + 4)));
                        }
                        ep_requant4_full(a0, mult + oc0, shift + oc0, out_offset, act_min, act_max, o + oc0);
                        ep_requant4_full(a1, mult + oc0 + 4, shift + oc0 + 4, out_offset, act_min, act_max, o + oc0 + 4);
                    }
                }
#endif
                for (; oc0 < out_c; oc0 += EP_DW_LANES) {
                    const int32_t nc = out_c - oc0 < EP_DW_LANES ? out_c - oc0 : EP_DW_LANES;
                    ep_dw_accumulate(acc, x, w, &win, oc0, nc);
#if EP_KERNELS_MVE
                    /* four channels per vector requantization; short blocks are predicated */
                    for (c = 0; c < nc; c += 4) {
                        const int32_t oc = oc0 + c, left = nc - c < 4 ? nc - c : 4;
                        int32x4_t v = vldrwq_s32(acc + c);
                        if (left == 4) {
                            if (init != NULL) {
                                v = vaddq_s32(v, vldrwq_s32(init + oc));
                            }
                            ep_requant4_full(v, mult + oc, shift + oc, out_offset, act_min, act_max, o + oc);
                            continue;
                        }
                        if (init != NULL) {
                            v = vaddq_s32(v, vldrwq_z_s32(init + oc, vctp32q((uint32_t)left)));
                        }
                        ep_requant4(v, mult + oc, shift + oc, out_offset, act_min, act_max, o + oc, left);
                    }
#else
                    for (c = 0; c < nc; ++c) {
                        const int32_t oc = oc0 + c;
                        o[oc] = ep_requant_out(acc[c] + (bias != NULL ? bias[oc] : 0), mult[oc], shift[oc],
                                               out_offset, act_min, act_max);
                    }
#endif
                }
            }
        }
    }
}
#endif

#if EP_KERNELS_DSP
/* One tap of four channels: a word of inputs (x + in_offset widened by SXTAB16) and a word of
 * weights, four SMLAxy into four accumulators. */
#define EP_DW_TAP4(xp, wp)                                                   \
    do {                                                                     \
        const int32_t xv_ = ep_read_s8x4(xp), wv_ = ep_read_s8x4(wp);        \
        const int32_t x02_ = __sxtab16(off2, xv_), x13_ = ep_sxtab16_ror8(off2, xv_); \
        const int32_t w02_ = __sxtb16(wv_), w13_ = ep_sxtb16_ror8(wv_);      \
        a0 = __smlabb(w02_, x02_, a0);                                       \
        a2 = __smlatt(w02_, x02_, a2);                                       \
        a1 = __smlabb(w13_, x13_, a1);                                       \
        a3 = __smlatt(w13_, x13_, a3);                                       \
    } while (0)

/* Two horizontally adjacent 3x3 windows, stride 1, both inside the image (depth multiplier 1,
 * in_c % 4 == 0, a layer that passes ep_dsp_rq_ok): each weight word is widened once for both
 * pixels, eight accumulators in registers (61 instructions per window row and 24 MACs instead of
 * 2 x 44). The windows have no padding taps, so the sums start from kernel_sums (bias + in_offset *
 * sum of weights) and the inputs are widened without the offset, which frees its register. */
typedef struct {
    int32_t c_n, x_row, w_row, off2p1;
    uint32_t lo4, hi4;
    const int32_t *kernel_sums, *mult, *shift;
} ep_dw_pair_ctx;

__attribute__((noinline)) static void ep_dw3x3_pair_dsp(const ep_dw_pair_ctx *cx, const int8_t *x, const int8_t *w,
                                                        int8_t *o0)
{
    const int32_t c_n = cx->c_n, x_row = cx->x_row, w_row = cx->w_row, off2p1 = cx->off2p1;
    const int32_t *const init = cx->kernel_sums, *const mult = cx->mult, *const shift = cx->shift;
    int8_t *const o1 = o0 + c_n;
    int32_t c, r;
    for (c = 0; c < c_n; c += 4) {
        int32_t a0 = init[c], a1 = init[c + 1], a2 = init[c + 2], a3 = init[c + 3];
        int32_t b0 = a0, b1 = a1, b2 = a2, b3 = a3;
        const int8_t *xr = x + c, *wr = w + c;
        uint32_t y;
        for (r = 0; r < 3; ++r) {
            const int8_t *xp = xr + (size_t)r * x_row, *wp = wr + (size_t)r * w_row;
            int32_t x02, x13, w02, w13;
            /* columns 0..3 of the row against weights 0..2: pixel a takes (col k, weight k),
             * pixel b (col k + 1, weight k); the column stride comes from memory ([cs]), every
             * register holds an accumulator, a pointer or a widened word */
#define EP_DW_PAIR_X(a0_, a1_, a2_, a3_)                          \
            "ldr     %[x13], [%[xp]]\n\t"                          \
            "sxtb16  %[x02], %[x13]\n\t"                          \
            "sxtb16  %[x13], %[x13], ror #8\n\t"                  \
            "smlabb  %[" a0_ "], %[w02], %[x02], %[" a0_ "]\n\t"   \
            "smlatt  %[" a2_ "], %[w02], %[x02], %[" a2_ "]\n\t"   \
            "smlabb  %[" a1_ "], %[w13], %[x13], %[" a1_ "]\n\t"   \
            "smlatt  %[" a3_ "], %[w13], %[x13], %[" a3_ "]\n\t"
#define EP_DW_PAIR_W                                               \
            "ldr     %[w13], [%[wp]]\n\t"                          \
            "sxtb16  %[w02], %[w13]\n\t"                           \
            "sxtb16  %[w13], %[w13], ror #8\n\t"
#define EP_DW_PAIR_STEP(ptr)                                       \
            "ldr     %[x02], %[cs]\n\t"                            \
            "add     %[" ptr "], %[" ptr "], %[x02]\n\t"
            __asm__ volatile(EP_DW_PAIR_W EP_DW_PAIR_X("a0", "a1", "a2", "a3") EP_DW_PAIR_STEP("xp")
                             EP_DW_PAIR_X("b0", "b1", "b2", "b3") EP_DW_PAIR_STEP("wp") EP_DW_PAIR_W
                             EP_DW_PAIR_X("a0", "a1", "a2", "a3") EP_DW_PAIR_STEP("xp")
                             EP_DW_PAIR_X("b0", "b1", "b2", "b3") EP_DW_PAIR_STEP("wp") EP_DW_PAIR_W
                             EP_DW_PAIR_X("a0", "a1", "a2", "a3") EP_DW_PAIR_STEP("xp")
                             EP_DW_PAIR_X("b0", "b1", "b2", "b3")
                             : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [b0] "+r"(b0),
                               [b1] "+r"(b1), [b2] "+r"(b2), [b3] "+r"(b3), [xp] "+r"(xp), [wp] "+r"(wp),
                               [x02] "=&r"(x02), [x13] "=&r"(x13), [w02] "=&r"(w02), [w13] "=&r"(w13)
                             : [cs] "m"(c_n)
                             : "memory");
#undef EP_DW_PAIR_X
#undef EP_DW_PAIR_W
#undef EP_DW_PAIR_STEP
        }
        y = ep_clamp_s8x4(ep_pack_s8x4(ep_dsp_rq(a0, mult[c], shift[c], off2p1),
                                       ep_dsp_rq(a1, mult[c + 1], shift[c + 1], off2p1),
                                       ep_dsp_rq(a2, mult[c + 2], shift[c + 2], off2p1),
                                       ep_dsp_rq(a3, mult[c + 3], shift[c + 3], off2p1)),
                          cx->lo4, cx->hi4);
        memcpy(o0 + c, &y, 4);
        y = ep_clamp_s8x4(ep_pack_s8x4(ep_dsp_rq(b0, mult[c], shift[c], off2p1),
                                       ep_dsp_rq(b1, mult[c + 1], shift[c + 1], off2p1),
                                       ep_dsp_rq(b2, mult[c + 2], shift[c + 2], off2p1),
                                       ep_dsp_rq(b3, mult[c + 3], shift[c + 3], off2p1)),
                          cx->lo4, cx->hi4);
        memcpy(o1 + c, &y, 4);
    }
}

/* The planner may place a row-order kernel's output over the rest of its dying input (codegen's
 * LAG_OPS: output row y only overwrites input rows no later output row reads). The channel-major
 * DSP kernels below write all rows of a few channels before the next ones, so they check the
 * placement: 0 when the two buffers are apart, 1 when the output starts a multiple of c_n bytes
 * below the input (every output byte then aliases an input byte of its own channel, which that
 * channel's rows, taken in row order, no longer need), else 2. */
static int ep_out_skew(const ep_conv_params *p, const int8_t *in, const int8_t *out)
{
    const uintptr_t i0 = (uintptr_t)in, o0 = (uintptr_t)out;
    const uintptr_t in_n = (uintptr_t)p->in.n * p->in.h * p->in.w * p->in.c;
    const uintptr_t out_n = (uintptr_t)p->out.n * p->out.h * p->out.w * p->out.c;
    if (o0 >= i0 + in_n || i0 >= o0 + out_n) {
        return 0;
    }
    return o0 <= i0 && (i0 - o0) % (uintptr_t)p->in.c == 0 ? 1 : 2;
}

/* ---- 3x3 depthwise, channel-major (depth multiplier 1, undilated, stride_w 1 or 2) -------------
 * SMLAD needs two taps of the same channel in one register, which NHWC never gives. For a group of
 * four channels the kernel keeps the window's three input rows transposed into int16 rows, one per
 * channel (x + in_offset, padding columns 0, rows outside the image all 0: a padding tap then adds
 * 0, exactly the reference's skipped tap), in a ring of three row slots, so every input row is
 * widened once per channel group. Along such a row horizontally adjacent taps are adjacent int16s:
 * a 3-tap row of one output is one SMLAD (taps 0, 1) and one SMLAxy (tap 2), the weights of one
 * channel stay in five registers across the output row, and two outputs share the loads. */
static inline int32_t ep_pkhbt16(int32_t lo, int32_t hi)     /* lo.lo | hi.lo << 16 */
{
    int32_t r;
    __asm__("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}

static inline int32_t ep_pkhtb16(int32_t hi, int32_t lo)     /* lo.hi | hi.hi << 16 */
{
    int32_t r;
    __asm__("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}

static inline int32_t ep_ld32(const int16_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void ep_st32(int16_t *p, int32_t v)
{
    memcpy(p, &v, 4);
}

typedef struct {
    const ep_conv_params *p;
    const int8_t *in;
    int16_t *buf;                       /* 4 channels x rows x len int16 */
    uint8_t *zero;                      /* per row slot: 1 while all four channels' rows are 0 */
    int32_t len, cs, c0, g, off2;
} ep_dw_cm_ctx;

/* input row iy (of batch b) into ring slot `slot` of the group: in-image columns only, the
 * padding columns stay as zeroed at the start; a row outside the image is all zero */
static void ep_dw_cm_row(const ep_dw_cm_ctx *cx, int32_t b, int32_t iy, int32_t slot)
{
    const ep_conv_params *p = cx->p;
    const int32_t c_n = p->in.c, in_w = p->in.w, len = cx->len, pad = p->pad_w, g = cx->g;
    const size_t cs = (size_t)cx->cs;            /* next channel's rows */
    int16_t *const r0 = cx->buf + (size_t)slot * len;
    int32_t j, k;
    if (iy < 0 || iy >= p->in.h) {
        if (!cx->zero[slot]) {
            for (k = 0; k < 4; ++k) {
                memset(r0 + k * cs, 0, (size_t)len * 2);
            }
            cx->zero[slot] = 1;
        }
        return;
    }
    cx->zero[slot] = 0;
    {
        const int32_t end = in_w < len - pad ? in_w : len - pad;    /* in-image columns we need */
        const int8_t *x = cx->in + ((size_t)(b * p->in.h + iy) * in_w) * c_n + cx->c0;
        int16_t *d = r0 + pad;
        if (g == 4) {
            const int32_t off2 = cx->off2;
            for (j = 0; j + 2 <= end; j += 2, x += 2 * c_n) {
                const int32_t v0 = ep_read_s8x4(x), v1 = ep_read_s8x4(x + c_n);
                const int32_t a02 = __sxtab16(off2, v0), a13 = ep_sxtab16_ror8(off2, v0);
                const int32_t b02 = __sxtab16(off2, v1), b13 = ep_sxtab16_ror8(off2, v1);
                ep_st32(d + j, ep_pkhbt16(a02, b02));
                ep_st32(d + cs + j, ep_pkhbt16(a13, b13));
                ep_st32(d + 2 * cs + j, ep_pkhtb16(b02, a02));
                ep_st32(d + 3 * cs + j, ep_pkhtb16(b13, a13));
            }
            if (j < end) {
                const int32_t v0 = ep_read_s8x4(x);
                const int32_t a02 = __sxtab16(off2, v0), a13 = ep_sxtab16_ror8(off2, v0);
                d[j] = (int16_t)a02;
                d[cs + j] = (int16_t)a13;
                d[2 * cs + j] = (int16_t)(a02 >> 16);
                d[3 * cs + j] = (int16_t)(a13 >> 16);
            }
        } else {
            for (j = 0; j < end; ++j, x += c_n) {
                for (k = 0; k < g; ++k) {
                    d[k * cs + j] = (int16_t)(x[k] + p->in_offset);
                }
            }
        }
    }
}

/* One channel's outputs over a stripe of output rows, sums and requantization in one assembly
 * loop. blk (int32 words, word aligned): [0..5] the weights doubled, per window row r a word of
 * taps (r,0), (r,1) as int16 and a word with tap (r,2) in its bottom half; [6], [7] 2 * bias;
 * [8] bytes from the end of one output row's reads to the next row's first; [9] rows (counted
 * down in place); [10] output pairs per row; [11] 1 when a row ends in a single output.
 * q0: the stripe's first window row (int16, offset added); rows len int16 apart. Per output pair:
 * three LDRD of weights, nine LDR and twelve SMLAxy, then per output SMLAR, ADD, ASR and SSAT and
 * a STRB strided by c_n, which xs holds above the right shift r (ASR by register reads only its
 * bottom byte). The requantization is ep_dsp_rq's with the output offset and the rounding folded
 * into one constant, off = C = 2^(r-1) + out_offset * 2^r: with x = SMMULR(2 acc, mult),
 *   ((x - [x < 0]) >> (r - 1) + 2 out_offset + 1) >> 1 = (x - [x < 0] + C) >> r,
 * SMMLAR adds C to x for free, and [x < 0] may be taken as [acc < 0] (acc < 0 with x = 0 gives
 * (C - 1) >> r = C >> r = out_offset). No overflow: |x| < 2^30 and |C| < 2^30 for r <= 22, which
 * the caller checks. */
#define EP_DW_CM_RQ(a_)                                       \
    EP_DW_CM_RQ_NS(a_)                                        \
    "strb    %[" a_ "], [%[o]]\n\t"                           \
    "add     %[o], %[o], %[xs], lsr #8\n\t"
/* the same for two outputs a, b clamped to the activation range: packed into bytes 0, 1 of a,
 * SSUB8/SEL against act_min / act_max in every byte (blk[12], blk[13]; wa, wb are free here) */
#define EP_DW_CM_RQ_NS(a_)                                    \
    "smmlar  %[t], %[" a_ "], %[mult], %[off]\n\t"            \
    "add     %[" a_ "], %[t], %[" a_ "], asr #31\n\t"         \
    "asr     %[" a_ "], %[" a_ "], %[xs]\n\t"                 \
    "ssat    %[" a_ "], #8, %[" a_ "]\n\t"
#define EP_DW_CM_CLAMP                                        \
    "ldrd    %[wa], %[wb], [%[blk], #48]\n\t"                 \
    "ssub8   %[t], %[a], %[wa]\n\t"                           \
    "sel     %[a], %[a], %[wa]\n\t"                           \
    "ssub8   %[t], %[wb], %[a]\n\t"                           \
    "sel     %[a], %[a], %[wb]\n\t"
#define EP_DW_CM_RQ2C                                         \
    EP_DW_CM_RQ_NS("a") EP_DW_CM_RQ_NS("b")                   \
    "bfi     %[a], %[b], #8, #8\n\t"                          \
    EP_DW_CM_CLAMP                                            \
    "strb    %[a], [%[o]]\n\t"                                \
    "add     %[o], %[o], %[xs], lsr #8\n\t"                   \
    "lsr     %[a], %[a], #8\n\t"                              \
    "strb    %[a], [%[o]]\n\t"                                \
    "add     %[o], %[o], %[xs], lsr #8\n\t"
#define EP_DW_CM_RQ1C                                         \
    EP_DW_CM_RQ_NS("a") EP_DW_CM_CLAMP                        \
    "strb    %[a], [%[o]]\n\t"                                \
    "add     %[o], %[o], %[xs], lsr #8\n\t"
#define EP_DW_CM_RQ2 EP_DW_CM_RQ("a") EP_DW_CM_RQ("b")
#define EP_DW_CM_RQ1 EP_DW_CM_RQ("a")
/* the single output at the end of an odd row: taps (r,0), (r,1) and (r,2) of row q */
#define EP_DW_CM_ONE(q_, w_)                                  \
    "ldrd    %[wa], %[wb], [%[blk], #" w_ "]\n\t"             \
    "ldr     %[t], [%[" q_ "]]\n\t"                           \
    "smlad   %[a], %[wa], %[t], %[a]\n\t"                     \
    "ldr     %[t], [%[" q_ "], #4]\n\t"                       \
    "smlabb  %[a], %[wb], %[t], %[a]\n\t"
#define EP_DW_CM_LOOP(PAIR, RQ2, RQ1)                         \
    "2:\n\t"                                                  \
    "ldr     %[n], [%[blk], #40]\n\t"                         \
    "cmp     %[n], #0\n\t"                                    \
    "beq     4f\n\t"                                          \
    "1:\n\t"                                                  \
    "ldrd    %[a], %[b], [%[blk], #24]\n\t"                   \
    PAIR("q0", "0") PAIR("q1", "8") PAIR("q2", "16")          \
    RQ2                                                       \
    "subs    %[n], %[n], #1\n\t"                              \
    "bne     1b\n\t"                                          \
    "4:\n\t"                                                  \
    "ldr     %[t], [%[blk], #44]\n\t"                         \
    "cmp     %[t], #0\n\t"                                    \
    "beq     3f\n\t"                                          \
    "ldr     %[a], [%[blk], #24]\n\t"                         \
    EP_DW_CM_ONE("q0", "0") EP_DW_CM_ONE("q1", "8") EP_DW_CM_ONE("q2", "16") \
    RQ1                                                       \
    "3:\n\t"                                                  \
    "ldr     %[t], [%[blk], #32]\n\t"                         \
    "add     %[q0], %[q0], %[t]\n\t"                          \
    "add     %[q1], %[q1], %[t]\n\t"                          \
    "add     %[q2], %[q2], %[t]\n\t"                          \
    "ldr     %[t], [%[blk], #36]\n\t"                         \
    "subs    %[t], %[t], #1\n\t"                              \
    "str     %[t], [%[blk], #36]\n\t"                         \
    "bne     2b\n\t"
/* stride 1: outputs x, x + 1 read int16 x .. x + 3 of each row */
#define EP_DW_CM_PAIR1(q_, w_)                                \
    "ldrd    %[wa], %[wb], [%[blk], #" w_ "]\n\t"             \
    "ldr     %[t], [%[" q_ "]]\n\t"                           \
    "smlad   %[a], %[wa], %[t], %[a]\n\t"                     \
    "ldr     %[t], [%[" q_ "], #2]\n\t"                       \
    "smlad   %[b], %[wa], %[t], %[b]\n\t"                     \
    "ldr     %[t], [%[" q_ "], #4]!\n\t"                      \
    "smlabb  %[a], %[wb], %[t], %[a]\n\t"                     \
    "smlabt  %[b], %[wb], %[t], %[b]\n\t"
/* stride 2: outputs x, x + 1 read int16 2x .. 2x + 4 of each row */
#define EP_DW_CM_PAIR2(q_, w_)                                \
    "ldrd    %[wa], %[wb], [%[blk], #" w_ "]\n\t"             \
    "ldr     %[t], [%[" q_ "]], #8\n\t"                       \
    "smlad   %[a], %[wa], %[t], %[a]\n\t"                     \
    "ldr     %[t], [%[" q_ "], #-4]\n\t"                      \
    "smlad   %[b], %[wa], %[t], %[b]\n\t"                     \
    "smlabb  %[a], %[wb], %[t], %[a]\n\t"                     \
    "ldr     %[t], [%[" q_ "]]\n\t"                           \
    "smlabb  %[b], %[wb], %[t], %[b]\n\t"
#define EP_DW_CM_OPERANDS                                                                                  \
    : [a] "=&r"(a), [b] "=&r"(b), [t] "=&r"(t), [wa] "=&r"(wa), [wb] "=&r"(wb), [n] "=&r"(n), [q0] "+r"(q0), \
      [q1] "+r"(q1), [q2] "+r"(q2), [o] "+r"(o)                                                             \
    : [blk] "r"(blk), [mult] "r"(mult), [xs] "r"(xs), [off] "r"(off)                                        \
    : "cc", "memory"
/* clamp: blk[12], blk[13] hold act_min, act_max in every byte */
__attribute__((noinline)) static void ep_dw_cm_channel(int32_t *blk, const int16_t *q0, const int16_t *q1,
                                                       const int16_t *q2, int8_t *o, int32_t mult, int32_t xs,
                                                       int32_t off, int32_t stride_w, int clamp)
{
    int32_t a, b, t, wa, wb, n;
    if (stride_w == 1 && !clamp) {
        __asm__ volatile(EP_DW_CM_LOOP(EP_DW_CM_PAIR1, EP_DW_CM_RQ2, EP_DW_CM_RQ1) EP_DW_CM_OPERANDS);
    } else if (stride_w == 1) {
        __asm__ volatile(EP_DW_CM_LOOP(EP_DW_CM_PAIR1, EP_DW_CM_RQ2C, EP_DW_CM_RQ1C) EP_DW_CM_OPERANDS);
    } else if (!clamp) {
        __asm__ volatile(EP_DW_CM_LOOP(EP_DW_CM_PAIR2, EP_DW_CM_RQ2, EP_DW_CM_RQ1) EP_DW_CM_OPERANDS);
    } else {
        __asm__ volatile(EP_DW_CM_LOOP(EP_DW_CM_PAIR2, EP_DW_CM_RQ2C, EP_DW_CM_RQ1C) EP_DW_CM_OPERANDS);
    }
}
#undef EP_DW_CM_OPERANDS
#undef EP_DW_CM_RQ_NS
#undef EP_DW_CM_CLAMP
#undef EP_DW_CM_RQ2C
#undef EP_DW_CM_RQ1C
#undef EP_DW_CM_RQ2
#undef EP_DW_CM_RQ1
#undef EP_DW_CM_RQ
#undef EP_DW_CM_ONE
#undef EP_DW_CM_LOOP
#undef EP_DW_CM_PAIR1
#undef EP_DW_CM_PAIR2

/* every right shift at most 22 (ep_dw_cm_channel's folded output offset stays in int32) */
static int ep_dw_cm_shifts_ok(const int32_t *shift, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; ++c) {
        if (shift[c] < -22) {
            return 0;
        }
    }
    return 1;
}

/* stack budget of the stripe of transposed rows, bytes; rows so wide that even the ring of three
 * rows would pass EP_DW_CM_RING_MAX take the previous path (its stack does not grow with the row) */
#define EP_DW_CM_STACK 1536
#define EP_DW_CM_RING_MAX 2048

/* (3x3, depth multiplier 1, undilated, stride_w 1 or 2, a layer that passes ep_dsp_rq_ok) */
__attribute__((noinline)) static void ep_dw3x3_cm_dsp(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t c_n = p->in.c, out_h = p->out.h, out_w = p->out.w, sw = p->stride_w, sh = p->stride_h;
    const int32_t pairs = out_w / 2;
    const int32_t len = (sw * (out_w + 1) + 4 + 1) & ~1;
    int32_t rows = out_h, rin;
    ep_dw_cm_ctx cx;
    int32_t blk[4][14], xs[4], rc[4], slot_iy[3];
    const int clamp = p->act_min != -128 || p->act_max != 127;
    int32_t c0, b, oy, g, r, ring;

    /* output rows per stripe: as many as the budget holds; when that is only a few, a ring of the
     * window's three rows instead (each input row transposed once, one call per output row) */
    while (rows > 1 && 8 * ((rows - 1) * sh + 3) * len > EP_DW_CM_STACK) {
        --rows;
    }
    ring = rows < out_h && rows < 3;
    rin = ring ? 3 : (rows - 1) * sh + 3;
    {
        int32_t buf32[2 * rin * len];       /* 4 channels x rin rows x len int16, word aligned */
        uint8_t zero[rin];
        memset(zero, 1, sizeof zero);
        cx.zero = zero;
        cx.p = p;
        cx.in = in;
        cx.buf = (int16_t *)(void *)buf32;
        cx.len = len;
        cx.cs = rin * len;
        cx.off2 = ep_offset_x2(p->in_offset);
        memset(buf32, 0, sizeof buf32);
        for (c0 = 0; c0 < c_n; c0 += 4) {
            cx.c0 = c0;
            cx.g = c_n - c0 < 4 ? c_n - c0 : 4;
            for (g = 0; g < cx.g; ++g) {
                const int8_t *w = p->weights + c0 + g;
                int32_t t[9];
                for (r = 0; r < 9; ++r) {
                    t[r] = 2 * w[(size_t)r * c_n];
                }
                for (r = 0; r < 3; ++r) {
                    blk[g][2 * r] = ep_pkhbt16(t[3 * r], t[3 * r + 1]);
                    blk[g][2 * r + 1] = t[3 * r + 2];
                }
                blk[g][6] = blk[g][7] = p->bias != NULL ? 2 * p->bias[c0 + g] : 0;
                blk[g][8] = 2 * (sh * len - 2 * sw * pairs);
                blk[g][10] = pairs;
                blk[g][11] = out_w & 1;
                blk[g][12] = (int32_t)ep_bytes4(p->act_min);
                blk[g][13] = (int32_t)ep_bytes4(p->act_max);
                /* the whole right shift r, and C = 2^(r-1) + out_offset * 2^r (see ep_dw_cm_channel) */
                xs[g] = (int32_t)((uint32_t)c_n << 8 | (uint32_t)-p->shift[c0 + g]);
                rc[g] = (int32_t)((uint32_t)1 << (-p->shift[c0 + g] - 1)) +
                        (int32_t)((uint32_t)p->out_offset << -p->shift[c0 + g]);
            }
            for (b = 0; b < p->out.n; ++b) {
                slot_iy[0] = slot_iy[1] = slot_iy[2] = INT32_MIN;
                for (oy = 0; oy < out_h; oy += ring ? 1 : rows) {
                    const int32_t n = ring ? 1 : (out_h - oy < rows ? out_h - oy : rows);
                    const int32_t iy0 = oy * sh - p->pad_h;
                    int8_t *o = out + ((size_t)(b * out_h + oy) * out_w) * c_n + c0;
                    const int16_t *q[3];
                    if (ring) {
                        for (r = 0; r < 3; ++r) {
                            const int32_t iy = iy0 + r, slot = (int32_t)((uint32_t)(iy + 3 * 1024) % 3u);
                            if (slot_iy[slot] != iy) {
                                ep_dw_cm_row(&cx, b, iy, slot);
                                slot_iy[slot] = iy;
                            }
                            q[r] = cx.buf + (size_t)slot * len;
                        }
                    } else {
                        for (r = 0; r < (n - 1) * sh + 3; ++r) {
                            ep_dw_cm_row(&cx, b, iy0 + r, r);
                        }
                        q[0] = cx.buf;
                        q[1] = cx.buf + len;
                        q[2] = cx.buf + 2 * len;
                    }
                    for (g = 0; g < cx.g; ++g) {
                        const size_t cs = (size_t)g * cx.cs;
                        blk[g][9] = n;
                        ep_dw_cm_channel(blk[g], q[0] + cs, q[1] + cs, q[2] + cs, o + g, p->mult[c0 + g], xs[g], rc[g],
                                         sw, clamp);
                    }
                }
            }
        }
    }
}

/* ---- depthwise over one input channel (micro_speech's 10x8 stride-2 layer, 8 outputs) ----------
 * Every output channel sees the same input plane, so the channels are the outer loop: one channel's
 * taps are gathered once into int16 pairs on the stack, in the lane order SXTAB16 gives four input
 * bytes ((t0, t2), (t1, t3)), and each window row of kw bytes is then kw / 4 words of input, each
 * one LDR, two SXTAB16 (+ in_offset) and two SMLAD. A window cut by the left or right border is
 * first copied into `win` with -in_offset (the zero point) in its padding taps, which makes their
 * terms 0, the reference's skipped taps. */
#define EP_DW_C1_TAPS 96
#define EP_DW_C1_STRIP 4

/* two horizontally adjacent windows of 8 columns, both in the image, stride_w 1 or 2 (the second
 * window `sw` bytes on): each weight pair loaded once for both, 25 instructions per window row
 * for 16 MACs */
#define EP_DW_C1_HALF(o0_, o1_)                           \
    "ldrd    %[wa], %[wb], [%[w]], #8\n\t"               \
    "ldr     %[t0], [%[x], #" o0_ "]\n\t"                \
    "ldr     %[t1], [%[x], #" o1_ "]\n\t"                \
    "sxtab16 %[t2], %[off2], %[t0]\n\t"                  \
    "smlad   %[a], %[wa], %[t2], %[a]\n\t"               \
    "sxtab16 %[t2], %[off2], %[t0], ror #8\n\t"          \
    "smlad   %[a], %[wb], %[t2], %[a]\n\t"               \
    "sxtab16 %[t2], %[off2], %[t1]\n\t"                  \
    "smlad   %[b], %[wa], %[t2], %[b]\n\t"               \
    "sxtab16 %[t2], %[off2], %[t1], ror #8\n\t"          \
    "smlad   %[b], %[wb], %[t2], %[b]\n\t"
#define EP_DW_C1_ROWS(o1_, o5_)                           \
    "1:\n\t"                                              \
    EP_DW_C1_HALF("0", o1_) EP_DW_C1_HALF("4", o5_)       \
    "add     %[x], %[x], %[xs]\n\t"                       \
    "subs    %[n], %[n], #1\n\t"                          \
    "bne     1b\n\t"
__attribute__((noinline)) static void ep_dw_c1_pair8(const int8_t *x, int32_t xs, const int32_t *w, int32_t rows,
                                                     int32_t off2, int32_t sw, int32_t *acc)
{
    int32_t a = acc[0], b = acc[1], t0, t1, t2, wa, wb;
    if (sw == 1) {
        __asm__ volatile(EP_DW_C1_ROWS("1", "5")
                         : [a] "+r"(a), [b] "+r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),
                           [wa] "=&r"(wa), [wb] "=&r"(wb), [x] "+r"(x), [w] "+r"(w), [n] "+r"(rows)
                         : [xs] "r"(xs), [off2] "r"(off2)
                         : "cc", "memory");
    } else {
        __asm__ volatile(EP_DW_C1_ROWS("2", "6")
                         : [a] "+r"(a), [b] "+r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2),
                           [wa] "=&r"(wa), [wb] "=&r"(wb), [x] "+r"(x), [w] "+r"(w), [n] "+r"(rows)
                         : [xs] "r"(xs), [off2] "r"(off2)
                         : "cc", "memory");
    }
    acc[0] = a;
    acc[1] = b;
}
#undef EP_DW_C1_HALF
#undef EP_DW_C1_ROWS

#if defined(__GNUC__) && !defined(__clang__)
/* gcc would turn ep_copy back into memcpy calls, the calls it avoids */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
__attribute__((noinline)) static void ep_depthwise_c1_dsp(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, sh = p->stride_h, sw = p->stride_w;
    const int32_t off2 = ep_offset_x2(p->in_offset), off2p1 = 2 * p->out_offset + 1;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const uint32_t zp4 = ep_bytes4(-p->in_offset);
    int32_t wp[4 * kh];                          /* RAM is a target: one channel's taps, ... */
    uint32_t strip32[3 * EP_DW_C1_STRIP];        /* ... and four rows of a border pair, 12 bytes each */
    int8_t *const strip = (int8_t *)(void *)strip32;
    int32_t m, b, oy, ox, r;

    for (m = 0; m < out_c; ++m) {
        const int32_t init = p->bias != NULL ? p->bias[m] : 0, mult = p->mult[m], shift = p->shift[m];
        const int8_t *w = p->weights + m;
        for (r = 0; r < kh * 8; r += 4) {
            wp[r / 2] = ep_pkhbt16(w[(size_t)r * out_c], w[(size_t)(r + 2) * out_c]);
            wp[r / 2 + 1] = ep_pkhbt16(w[(size_t)(r + 1) * out_c], w[(size_t)(r + 3) * out_c]);
        }
        for (b = 0; b < p->out.n; ++b) {
            for (oy = 0; oy < out_h; ++oy) {
                const int32_t iy0 = oy * sh - p->pad_h;
                const int32_t fy0 = iy0 < 0 ? -iy0 : 0, fy1 = in_h - iy0 < kh ? in_h - iy0 : kh;
                const int32_t rows = fy1 > fy0 ? fy1 - fy0 : 0;
                const int32_t *const w0 = wp + fy0 * 4;
                const int8_t *const row = in + (size_t)(b * in_h + iy0 + fy0) * in_w;
                int8_t *o = out + ((size_t)(b * out_h + oy) * out_w) * out_c + m;
                for (ox = 0; ox < out_w; ox += 2, o += 2 * out_c) {
                    const int32_t ix0 = ox * sw - p->pad_w;
                    int32_t acc[2];
                    acc[0] = acc[1] = init;
                    if (rows > 0 && ix0 >= 0 && ix0 + sw + 8 <= in_w) {
                        ep_dw_c1_pair8(row + ix0, in_w, w0, rows, off2, sw, acc);
                    } else if (rows > 0) {
                        /* the pair's columns ix0 .. ix0 + sw + 7, outside the image as the zero point */
                        const int32_t lo = ix0 < 0 ? 0 : ix0, hi = ix0 + sw + 8 < in_w ? ix0 + sw + 8 : in_w;
                        const int8_t *src = row + lo;
                        int32_t r0, n;
                        for (r0 = 0; r0 < rows; r0 += n) {
                            n = rows - r0 < EP_DW_C1_STRIP ? rows - r0 : EP_DW_C1_STRIP;
                            for (r = 0; r < n; ++r, src += in_w) {
                                strip32[3 * r] = strip32[3 * r + 1] = strip32[3 * r + 2] = zp4;
                                if (hi > lo) {
                                    ep_copy(strip + 12 * r + (lo - ix0), src, hi - lo);
                                }
                            }
                            ep_dw_c1_pair8(strip, 12, w0 + 4 * r0, n, off2, sw, acc);
                        }
                    }
                    o[0] = (int8_t)ep_clamp(ep_dsp_rq(acc[0], mult, shift, off2p1), act_min, act_max);
                    if (ox + 1 < out_w) {
                        o[out_c] = (int8_t)ep_clamp(ep_dsp_rq(acc[1], mult, shift, off2p1), act_min, act_max);
                    }
                }
            }
        }
    }
}

/* Depth multiplier 1, undilated, on the DSP extension: per output pixel and block of four
 * channels, four accumulators in registers. A 3x3 window with every tap in the image is unrolled
 * (nine taps, no loop, no pointer updates); other windows run their in-image taps row by row in
 * the assembly loop below (one word of inputs and one of weights per tap: 2 LDR, 2 ADD,
 * 2 SXTAB16, 2 SXTB16, 4 SMLAxy, SUBS, BNE). Padding taps are skipped, as in the reference.
 * Layers that pass ep_dsp_rq_ok requantize four channels in ~10 instructions per output
 * (SMMULR, SSAT, SSUB8/SEL for the activation clamp, one word store). */
__attribute__((noinline)) static void ep_depthwise_dm1_dsp(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, c_n = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w;
    const int32_t kh = p->kh, kw = p->kw, stride_h = p->stride_h, stride_w = p->stride_w;
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t in_offset = p->in_offset, off2 = ep_offset_x2(in_offset);
    const int32_t x_row = in_w * c_n, w_row = kw * c_n;
    const int8_t *const weights = p->weights;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    const int fast = ep_dsp_rq_ok(bias, shift, c_n, kh * kw);
    const int32_t off2p1 = 2 * out_offset + 1;
    const uint32_t lo4 = ep_bytes4(act_min), hi4 = ep_bytes4(act_max);
    const int pairs = fast && kh == 3 && kw == 3 && stride_w == 1 && c_n % 4 == 0 && p->kernel_sums != NULL;
    ep_dw_pair_ctx pcx;
    int32_t b, oy, ox, c, r;

    /* narrower rows lose more to the per-channel setup than the pairing wins */
    if (fast && kh == 3 && kw == 3 && (stride_w == 1 || stride_w == 2) && out_w >= 4 &&
        8 * 3 * (stride_w * (out_w + 1) + 5) <= EP_DW_CM_RING_MAX && ep_dw_cm_shifts_ok(shift, c_n) &&
        ep_out_skew(p, in, out) < 2) {
        ep_dw3x3_cm_dsp(p, in, out);
        return;
    }
    pcx.c_n = c_n;
    pcx.x_row = x_row;
    pcx.w_row = w_row;
    pcx.off2p1 = off2p1;
    pcx.lo4 = lo4;
    pcx.hi4 = hi4;
    pcx.kernel_sums = p->kernel_sums;
    pcx.mult = mult;
    pcx.shift = shift;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            const int32_t fy0 = iy0 < 0 ? -iy0 : 0, fy1 = in_h - iy0 < kh ? in_h - iy0 : kh;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0, fx1 = in_w - ix0 < kw ? in_w - ix0 : kw;
                const int32_t rows = fy1 > fy0 ? fy1 - fy0 : 0, cols = fx1 > fx0 ? fx1 - fx0 : 0;
                const int full3 = rows == 3 && cols == 3 && kw == 3;
                int8_t *o = out + ((size_t)(b * out_h + oy) * out_w + ox) * c_n;
                const int8_t *x = in + ((size_t)(b * in_h + iy0 + fy0) * in_w + ix0 + fx0) * c_n;
                const int8_t *w = weights + ((size_t)fy0 * kw + fx0) * c_n;
                if (pairs && full3 && ox + 1 < out_w && ix0 + 4 <= in_w) {
                    /* this window and the next one, both inside the image */
                    ep_dw3x3_pair_dsp(&pcx, x, w, o);
                    ++ox;
                    continue;
                }
                for (c = 0; c + 4 <= c_n; c += 4) {
                    int32_t a0 = bias != NULL ? bias[c] : 0, a1 = bias != NULL ? bias[c + 1] : 0;
                    int32_t a2 = bias != NULL ? bias[c + 2] : 0, a3 = bias != NULL ? bias[c + 3] : 0;
                    if (full3) {
                        const int8_t *x0 = x + c, *w0 = w + c;
                        for (r = 0; r < 3; ++r, x0 += x_row, w0 += w_row) {
                            EP_DW_TAP4(x0, w0);
                            EP_DW_TAP4(x0 + c_n, w0 + c_n);
                            EP_DW_TAP4(x0 + 2 * c_n, w0 + 2 * c_n);
                        }
                    } else {
                        for (r = 0; r < rows && cols > 0; ++r) {
                            const int8_t *xp = x + (size_t)r * x_row + c, *wp = w + (size_t)r * w_row + c;
                            int32_t n = cols, xv, wv, xh, wh;
                            __asm__ volatile(
                                "1:\n\t"
                                "ldr     %[xv], [%[xp]]\n\t"
                                "ldr     %[wv], [%[wp]]\n\t"
                                "add     %[xp], %[xp], %[xs]\n\t"
                                "add     %[wp], %[wp], %[ws]\n\t"
                                "sxtab16 %[xh], %[off2], %[xv], ror #8\n\t"
                                "sxtab16 %[xv], %[off2], %[xv]\n\t"
                                "sxtb16  %[wh], %[wv], ror #8\n\t"
                                "sxtb16  %[wv], %[wv]\n\t"
                                "smlabb  %[a0], %[wv], %[xv], %[a0]\n\t"
                                "smlatt  %[a2], %[wv], %[xv], %[a2]\n\t"
                                "smlabb  %[a1], %[wh], %[xh], %[a1]\n\t"
                                "smlatt  %[a3], %[wh], %[xh], %[a3]\n\t"
                                "subs    %[n], %[n], #1\n\t"
                                "bne     1b\n\t"
                                : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [xp] "+r"(xp),
                                  [wp] "+r"(wp), [n] "+r"(n), [xv] "=&r"(xv), [wv] "=&r"(wv), [xh] "=&r"(xh),
                                  [wh] "=&r"(wh)
                                : [xs] "r"(c_n), [ws] "r"(c_n), [off2] "r"(off2)
                                : "cc", "memory");
                        }
                    }
                    if (fast) {
                        const uint32_t v = ep_pack_s8x4(ep_dsp_rq(a0, mult[c], shift[c], off2p1),
                                                        ep_dsp_rq(a1, mult[c + 1], shift[c + 1], off2p1),
                                                        ep_dsp_rq(a2, mult[c + 2], shift[c + 2], off2p1),
                                                        ep_dsp_rq(a3, mult[c + 3], shift[c + 3], off2p1));
                        const uint32_t y = ep_clamp_s8x4(v, lo4, hi4);
                        memcpy(o + c, &y, 4);
                    } else {
                        o[c] = ep_requant_fast(a0, mult[c], shift[c], out_offset, act_min, act_max);
                        o[c + 1] = ep_requant_fast(a1, mult[c + 1], shift[c + 1], out_offset, act_min, act_max);
                        o[c + 2] = ep_requant_fast(a2, mult[c + 2], shift[c + 2], out_offset, act_min, act_max);
                        o[c + 3] = ep_requant_fast(a3, mult[c + 3], shift[c + 3], out_offset, act_min, act_max);
                    }
                }
                for (; c < c_n; ++c) {
                    int32_t a = bias != NULL ? bias[c] : 0, k;
                    for (r = 0; r < rows; ++r) {
                        for (k = 0; k < cols; ++k) {
                            a += (int32_t)w[(size_t)r * w_row + (size_t)k * c_n + c] *
                                 ((int32_t)x[(size_t)r * x_row + (size_t)k * c_n + c] + in_offset);
                        }
                    }
                    o[c] = ep_requant_out(a, mult[c], shift[c], out_offset, act_min, act_max);
                }
            }
        }
    }
}
#endif

#if EP_KERNELS_MVE
/* Helium 3x3 depthwise, depth multiplier 1, undilated, any stride and padding, eight channels per
 * pass: every window runs the same nine taps from kernel_sums with the input offset left out. A tap
 * outside the image reads `pad` (in_c bytes of -in_offset) instead of the input, which adds
 * -in_offset * w and cancels that tap's share of the kernel sum: the same sums as skipping it. */
static void ep_dw3x3_taps(const ep_conv_params *p, const int8_t *const *rows, int all_rows, const int8_t *pad,
                          int32_t ox, const int8_t **xt)
{
    const int32_t in_w = p->in.w, c_n = p->in.c;
    const int32_t ix0 = ox * p->stride_w - p->pad_w;
    int32_t r, k;
    if (all_rows && ix0 >= 0 && ix0 + 3 <= in_w) {
        /* the whole window in the image */
        const size_t o = (size_t)ix0 * c_n;
        for (r = 0; r < 3; ++r) {
            xt[3 * r] = rows[r] + o;
            xt[3 * r + 1] = rows[r] + o + c_n;
            xt[3 * r + 2] = rows[r] + o + 2 * c_n;
        }
        return;
    }
    for (r = 0; r < 3; ++r) {
        for (k = 0; k < 3; ++k) {
            const int32_t ix = ix0 + k;
            xt[r * 3 + k] = rows[r] == pad || ix < 0 || ix >= in_w ? pad : rows[r] + (size_t)ix * c_n;
        }
    }
}

/* two output pixels per pass (the second repeats the first at the end of an odd row; both store
 * the same bytes), eight channels: each weight vector loaded once for both pixels, four
 * accumulators and three temporaries in the eight Q registers */
__attribute__((noinline)) static void ep_dw3x3_run(const ep_conv_params *p, const int8_t *in, int8_t *out,
                                                   const int8_t *pad)
{
    const int32_t c_n = p->in.c, out_h = p->out.h, out_w = p->out.w;
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int8_t *const weights = p->weights;
    const int32_t *const mult = p->mult, *const shift = p->shift;
    const int32_t *const init = p->kernel_sums;
    const int8_t *xt[18];
    int32_t b, oy, ox, c, t;
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            /* the window's three input rows (pad where outside the image) */
            const int8_t *rows[3];
            int all_rows = 1;
            for (t = 0; t < 3; ++t) {
                const int32_t iy = oy * p->stride_h - p->pad_h + t;
                const int in_image = iy >= 0 && iy < p->in.h;
                rows[t] = in_image ? in + (size_t)(b * p->in.h + iy) * p->in.w * c_n : pad;
                all_rows &= in_image;
            }
            for (ox = 0; ox < out_w; ox += 2) {
                const int32_t ox1 = ox + 1 < out_w ? ox + 1 : ox;
                int8_t *o0 = out + ((size_t)(b * out_h + oy) * out_w + ox) * c_n;
                int8_t *o1 = out + ((size_t)(b * out_h + oy) * out_w + ox1) * c_n;
                ep_dw3x3_taps(p, rows, all_rows, pad, ox, xt);
                ep_dw3x3_taps(p, rows, all_rows, pad, ox1, xt + 9);
                for (c = 0; c < c_n; c += 8) {
                    const int8_t *wp = weights + c;
                    int32x4_t a00 = vldrwq_s32(init + c), a01 = vldrwq_s32(init + c + 4);
                    int32x4_t a10 = a00, a11 = a01;
                    for (t = 0; t < 9; ++t, wp += c_n) {
                        const int8_t *x0 = xt[t] + c, *x1 = xt[t + 9] + c;
                        const int32x4_t w0 = vldrbq_s32(wp), w1 = vldrbq_s32(wp + 4);
                        a00 = vaddq_s32(a00, vmulq_s32(vldrbq_s32(x0), w0));
                        a01 = vaddq_s32(a01, vmulq_s32(vldrbq_s32(x0 + 4), w1));
                        a10 = vaddq_s32(a10, vmulq_s32(vldrbq_s32(x1), w0));
                        a11 = vaddq_s32(a11, vmulq_s32(vldrbq_s32(x1 + 4), w1));
                    }
                    ep_requant4_full(a10, mult + c, shift + c, out_offset, act_min, act_max, o1 + c);
                    ep_requant4_full(a11, mult + c + 4, shift + c + 4, out_offset, act_min, act_max, o1 + c + 4);
                    ep_requant4_full(a00, mult + c, shift + c, out_offset, act_min, act_max, o0 + c);
                    ep_requant4_full(a01, mult + c + 4, shift + c + 4, out_offset, act_min, act_max, o0 + c + 4);
                }
            }
        }
    }
}

/* the pad row sized by the layer: in_c bytes of stack */
__attribute__((noinline)) static void ep_dw3x3(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    int8_t pad[p->in.c];
    memset(pad, (int8_t)-p->in_offset, (size_t)p->in.c);
    ep_dw3x3_run(p, in, out, pad);
}
#endif

/* generic loop, kept for depth multipliers above the block size */
__attribute__((noinline)) static void ep_depthwise_conv2d_generic(const ep_conv_params *p, const int8_t *in,
                                                                  int8_t *out)
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

void ep_depthwise_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t dm = p->depth_multiplier, undilated = p->dil_h == 1 && p->dil_w == 1;

#if EP_KERNELS_MVE
    if (undilated && dm == 1 && p->kh == 3 && p->kw == 3 && p->in.c % 8 == 0 && p->kernel_sums != NULL) {
        ep_dw3x3(p, in, out);
        return;
    }
#endif
#if EP_KERNELS_DSP
    if (undilated && dm == 1) {
        ep_depthwise_dm1_dsp(p, in, out);
        return;
    }
    if (undilated && p->in.c == 1 && p->kw == 8 && (p->stride_w == 1 || p->stride_w == 2) &&
        p->kh * p->kw <= EP_DW_C1_TAPS && ep_out_skew(p, in, out) == 0 &&
        ep_dsp_rq_ok(p->bias, p->shift, p->out.c, p->kh * p->kw)) {
        ep_depthwise_c1_dsp(p, in, out);
        return;
    }
#endif
#if EP_KERNELS_DSP || EP_KERNELS_MVE
    if (undilated && (dm == 1 || dm % 4 == 0)) {
        ep_depthwise_conv2d_simd(p, in, out);
        return;
    }
#endif
    (void)undilated;
    if (dm <= EP_DW_BLOCK) {
        ep_depthwise_conv2d_blocked(p, in, out);
        return;
    }
    ep_depthwise_conv2d_generic(p, in, out);
}

void ep_fully_connected(const ep_fc_params *p, const int8_t *in, int8_t *out)
{
    const int32_t depth = p->accum_depth, out_depth = p->out_depth, in_offset = p->in_offset;
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const bias = p->bias, *const mult = p->mult, *const shift = p->shift;
    const int8_t *const weights = p->weights;
#if EP_KERNELS_DSP || EP_KERNELS_MVE
    ep_vec xv;      /* the batch's input, prepared once for all output neurons */
#endif
#if EP_KERNELS_DSP
    int32_t wide[depth <= EP_VEC_MAX && depth >= 2 ? depth / 2 : 1];   /* sized by the layer */
    xv.wide = wide;
#endif
    int32_t b, oc, d;

    for (b = 0; b < p->batches; ++b) {
        const int8_t *ip = in + (size_t)b * depth;
        int8_t *o = out + (size_t)b * out_depth;
        /* two output neurons at a time share the input loads (see ep_dot2) */
        for (oc = 0; oc < out_depth; oc += 2) {
            const int32_t n = out_depth - oc < 2 ? 1 : 2;
            const int8_t *wp = weights + (size_t)oc * depth;
            int32_t acc[2] = {0, 0}, k;
            if (p->weights_offset != 0) {
                for (k = 0; k < n; ++k) {
                    for (d = 0; d < depth; ++d) {
                        acc[k] += ((int32_t)wp[(size_t)k * depth + d] + p->weights_offset) *
                                  ((int32_t)ip[d] + in_offset);
                    }
                }
            } else {
#if EP_KERNELS_DSP || EP_KERNELS_MVE
                if (depth <= EP_VEC_MAX) {
                    if (oc == 0) {
                        ep_vec_prepare(&xv, ip, depth, in_offset);
                    }
                    if (n == 2) {
                        ep_vec_dot2(&xv, wp, wp + depth, &acc[0], &acc[1]);
                    } else {
                        acc[0] = ep_vec_dot(&xv, wp);
                    }
                } else
#endif
                if (n == 2) {
                    ep_dot2(wp, wp + depth, ip, depth, in_offset, &acc[0], &acc[1]);
                } else {
                    acc[0] = ep_dot(wp, ip, depth, in_offset);
                }
            }
            for (k = 0; k < n; ++k) {
                const int32_t ch = p->per_channel ? oc + k : 0;
                o[oc + k] = ep_requant_out(acc[k] + (bias != NULL ? bias[oc + k] : 0), mult[ch], shift[ch],
                                           out_offset, act_min, act_max);
            }
        }
    }
}
