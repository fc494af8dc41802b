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
static int ep_mve_right_only(const int32_t *shift, int32_t n);

/* ep_conv1x1_mve's four channels (filters w, w + k, .. of k <= 16 bytes) for every pixel, when
 * every shift is right: per pixel one predicated patch load, four VMLADAV against the held filters,
 * the four sums through memory into a vector (two STRD, one VLDRW: unambiguous, where the lane
 * order of VMOV Qd[2], Qd[0], Rt, Rt2 differs between references) and the requantization, its
 * tables in one block (tab: kernel sums, multipliers, shifts, act_max, then 4 words for the sums:
 * one base register) */
__attribute__((noinline)) static void ep_mve_pw_small(const int8_t *x, const int8_t *w, int32_t k, int32_t npix,
                                                      int32_t *tab, int32_t out_c, int32_t out_offset,
                                                      int32x4_t lo, int8_t *o)
{
    register int32_t a0 __asm__("r0");
    register int32_t a1 __asm__("r2");
    register int32_t a2 __asm__("r4");
    register int32_t a3 __asm__("r6");
    const mve_pred16_t pk = vctp8q((uint32_t)k);
    const int8x16_t w0 = vldrbq_z_s8(w, pk), w1 = vldrbq_z_s8(w + k, pk);
    const int8x16_t w2 = vldrbq_z_s8(w + 2 * k, pk), w3 = vldrbq_z_s8(w + 3 * k, pk);
    if (npix <= 0) {
        return;     /* DLS with 0 would run the loop 2^32 times */
    }
    __asm__ volatile(
        "vctp.8      %[k]\n\t"
        "dls         lr, %[npix]\n"
        "1:\n\t"
        "vpst\n\t"
        "vldrbt.8    q0, [%[x]]\n\t"
        "add         %[x], %[x], %[k]\n\t"
        "vmladav.s8  %[a0], q0, %q[w0]\n\t"
        "vmladav.s8  %[a1], q0, %q[w1]\n\t"
        "vmladav.s8  %[a2], q0, %q[w2]\n\t"
        "vmladav.s8  %[a3], q0, %q[w3]\n\t"
        "strd        %[a0], %[a1], [%[tab], #64]\n\t"
        "strd        %[a2], %[a3], [%[tab], #72]\n\t"
        "vldrw.32    q1, [%[tab], #64]\n\t"
        "vldrw.32    q2, [%[tab]]\n\t"
        "vadd.i32    q1, q1, q2\n\t"
        "vldrw.32    q2, [%[tab], #16]\n\t"
        "vqrdmulh.s32 q1, q1, q2\n\t"
        "vshr.s32    q2, q1, #31\n\t"
        "vqadd.s32   q1, q1, q2\n\t"
        "vldrw.32    q2, [%[tab], #32]\n\t"
        "vrshl.s32   q1, q1, q2\n\t"
        "vadd.i32    q1, q1, %[off]\n\t"
        "vmax.s32    q1, q1, %q[lo]\n\t"
        "vldrw.32    q2, [%[tab], #48]\n\t"
        "vmin.s32    q1, q1, q2\n\t"
        "vstrb.32    q1, [%[o]]\n\t"   /* narrowing store: o in r0-r7 ("l") */
        "add         %[o], %[o], %[oc]\n\t"
        "le          lr, 1b\n\t"
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [x] "+r"(x), [o] "+l"(o)
        : [w0] "w"(w0), [w1] "w"(w1), [w2] "w"(w2), [w3] "w"(w3), [lo] "w"(lo), [tab] "r"(tab), [k] "r"(k),
          [oc] "r"(out_c), [off] "r"(out_offset), [npix] "r"(npix)
        : "q0", "q1", "q2", "lr", "memory");
}


/* 1x1, stride 1, unpadded (pointwise) with patches of at most 16 bytes (in_c <= 16: the narrow
 * layers of MobileNets) on Helium: four output channels outer, pixels inner, the four filters held
 * in vector registers for the whole layer (ep_mve_pw_small when every shift is right, else the
 * loop below with the kernel sums, multipliers and shifts in vector registers too). Wider
 * pointwise layers take ep_conv_mve, pixels outer. */
__attribute__((noinline)) static void ep_conv1x1_mve(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t out_c = p->out.c, k = p->in.c, npix = p->out.n * p->out.h * p->out.w;
    const int right_only = ep_mve_right_only(p->shift, out_c);
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max), zero = vdupq_n_s32(0);
    const int32_t out_offset = p->out_offset;
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
        if (k <= 16 && nc == 4 && right_only) {
            int32_t tab[20];        /* kernel sums, multipliers, shifts, act_max, the sums */
            vstrwq_s32(tab, ks);
            vstrwq_s32(tab + 4, m);
            vstrwq_s32(tab + 8, sh);
            vstrwq_s32(tab + 12, hi);
            ep_mve_pw_small(in, w[0], k, npix, tab, out_c, out_offset, lo, o);
            continue;
        }
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

#if EP_KERNELS_DSP
/* A generated model compiled for the DSP variant holds the stream instead of int8 weights and
 * refers to this symbol, so it cannot link a runtime built for another variant. */
const int32_t ep_kernels_dsp_runtime = 1;

/* ---- DSP CONV_2D from a generation-time word stream (firmware_gen/dsp_layout.py) --------------
 * Two output pixels x two output channels per pass, the whole channel loop in one assembly
 * function: per group of four inputs one LDM of both pixels' widened patch words, one LDM of both
 * filters' int16 weight pairs (pre-widened, so no SXTB16) and 8 SMLAD: 16 MACs in 10 instructions.
 * Registers: r0-r3 the accumulators (px0 c0, px1 c0, px0 c1, px1 c1), r4-r7 the patch words, r8-r11
 * the weights, r12 the patch pointer, lr the stream pointer; the rest of the job lives on the stack.
 *
 * Requantization per output in 4 instructions, bit-exact with ep_dsp_rq (ep_simd.h): the stream's
 * int16 weights and bias are doubled (the int8 format doubles the sum with one LSL instead), so the
 * accumulator A = 2a and SMMULR(A, m) = SRDHM(a, m). Then
 *   x - [x < 0]           = x + (A >> 31): x < 0 implies a < 0 (m >= 0); a < 0 with x = 0 (A * m =
 *                           -2^31 exactly, or m = 0) gives -1 instead of 0, and both end as
 *                           out_offset below ((-1 >> s) + 2 out_offset + 1 = 2 out_offset, halved);
 *   (t >> s) + 2off + 1   = (t + C) >> s with C = (2off + 1) << s, a multiple of 2^s (exact);
 * so ADD t = C + (A asr 31), SMMLAR x = t + SMMULR(A, m), ASR x by s, SSAT #8 of x asr 1.
 * dsp_layout.qualifies keeps s <= 21 and |a| < 2^30: |x + t| < 2^30 + 257 * 2^21 fits int32. */
typedef struct {
    int8_t *o0;                     /* pixel 0's outputs */
    int32_t d;                      /* pixel 1's outputs - pixel 0's (0: a lone last pixel) */
    int8_t *oend;                   /* o0 + out_c: where pixel 0's outputs end */
    const int32_t *wide;            /* both pixels' widened patches (k words) */
    int32_t entry;                  /* bytes into the loop body to enter at: k / 4 % EP_DSP16_UNROLL groups */
    const int32_t *xend;            /* wide + k */
    uint32_t lo4, hi4;              /* act_min / act_max in each byte */
    const int32_t *w;               /* the stream's records: out_c / 2 of k + 10 words (int8: k / 2 + 10) */
} ep_dsp16_job;
/* the assembly copies it as nine words */
typedef char ep_dsp16_job_is_9_words[sizeof(ep_dsp16_job) == 9 * 4 ? 1 : -1];

#define EP_DSP16_GROUP_BYTES 40     /* one group below: 2 LDM.W + 8 SMLAD, 4 bytes each */
#define EP_DSP16_UNROLL 8           /* groups in the loop body */
#define EP_STR_(x) #x
#define EP_STR(x) EP_STR_(x)
#define EP_DSP16_GROUP                          \
    "ldmia  r12!, {r4-r7}\n\t"                  \
    "ldmia  lr!, {r8-r11}\n\t"                  \
    "smlad  r0, r8, r4, r0\n\t"                 \
    "smlad  r0, r9, r5, r0\n\t"                 \
    "smlad  r1, r8, r6, r1\n\t"                 \
    "smlad  r1, r9, r7, r1\n\t"                 \
    "smlad  r2, r10, r4, r2\n\t"                \
    "smlad  r2, r11, r5, r2\n\t"                \
    "smlad  r3, r10, r6, r3\n\t"                \
    "smlad  r3, r11, r7, r3\n\t"
/* accumulator a with the channel's m, C, s (r10 scratch) */
#define EP_DSP16_RQ(a, m, c, s, dbl)            \
    "add    r10, " c ", " a ", asr #31\n\t"      \
    dbl                                         \
    "smmlar " a ", " a ", " m ", r10\n\t"        \
    "asr    " a ", " a ", " s "\n\t"             \
    "ssat   " a ", #8, " a ", asr #1\n\t"
/* the int8-weight stream accumulates a, not 2a: doubled here (sign taken before, the same) */
#define EP_DSP8_DBL(a) "lsl    " a ", " a ", #1\n\t"

/* The int8-weight stream (layers whose weights meet few pixels, dsp_layout.INT16_MIN_PIXELS):
 * per group both filters' bytes interleaved in two words, (c0 x0, c1 x0, c0 x2, c1 x2) and the same
 * for x1, x3, so SXTB16 and SXTB16 ROR 8 give each filter's int16 pairs: 16 MACs in 14 instructions. */
#define EP_DSP8_GROUP_BYTES 56      /* 2 LDM.W + 4 SXTB16 + 8 SMLAD, 4 bytes each */
#define EP_DSP8_GROUP                           \
    "ldmia  r12!, {r4-r7}\n\t"                  \
    "ldmia  lr!, {r8, r9}\n\t"                  \
    "sxtb16 r10, r8\n\t"                        \
    "sxtb16 r8, r8, ror #8\n\t"                 \
    "sxtb16 r11, r9\n\t"                        \
    "sxtb16 r9, r9, ror #8\n\t"                 \
    "smlad  r0, r10, r4, r0\n\t"                \
    "smlad  r0, r11, r5, r0\n\t"                \
    "smlad  r1, r10, r6, r1\n\t"                \
    "smlad  r1, r11, r7, r1\n\t"                \
    "smlad  r2, r8, r4, r2\n\t"                 \
    "smlad  r2, r9, r5, r2\n\t"                 \
    "smlad  r3, r8, r6, r3\n\t"                 \
    "smlad  r3, r9, r7, r3\n\t"

/* Every channel pair of one pixel pair. Not C: the loop needs all 14 registers and LDM needs them
 * in a known order. The job is copied to the stack (9 words, in the order the loads below want
 * them side by side) and read from there. The loop body
 * is 8 groups (32 inputs); k / 4 % 8 groups are done first by entering it part way (job.entry). */
#define EP_DSP16_CLAMP                                                                           \
        "ldrd   r4, r5, [sp, #24]\n\t"          /* the activation clamp, four byte lanes */      \
        "ssub8  r6, r0, r4\n\t"                                                                  \
        "sel    r0, r0, r4\n\t"                                                                  \
        "ssub8  r6, r5, r0\n\t"                                                                  \
        "sel    r0, r0, r5\n\t"
#define EP_DSP16_PAIRS(group, group_bytes, dbl0, dbl1, dbl2, dbl3, clamp)                          \
        "push   {r4-r11, lr}\n\t"                                                                \
        "ldmia  r0, {r1-r9}\n\t"                                                                 \
        "adr.w  r10, 1f\n\t"                                                                     \
        "add    r5, r5, r10\n\t"                                                                 \
        "orr    r5, r5, #1\n\t"                 /* a Thumb address for BX */                     \
        "push   {r1-r9}\n\t"                    /* sp: o0, d, oend, wide, entry, xend, lo4, hi4, w */ \
        "mov    lr, r9\n\t"                                                                      \
        "2:\n\t"                                                                                 \
        "ldmia  lr!, {r0-r3}\n\t"               /* 2 * bias: of c0 twice, of c1 twice */         \
        "ldrd   r12, r8, [sp, #12]\n\t"                                                          \
        "bx     r8\n\t"                                                                          \
        "1:\n\t"                                                                                 \
        group group group group group group group group                                          \
        "3:\n\t"                                                                                 \
        ".if 3b - 1b - " EP_STR(EP_DSP16_UNROLL) " * " EP_STR(group_bytes) "\n\t"                \
        ".error \"ep_conv_pairs_dsp16: the loop body is not EP_DSP16_UNROLL groups\"\n\t"        \
        ".endif\n\t"                                                                             \
        "ldr    r8, [sp, #20]\n\t"                                                               \
        "cmp    r12, r8\n\t"                                                                     \
        "bne    1b\n\t"                                                                          \
        "ldmia  lr!, {r4-r9}\n\t"               /* m, C, s of c0; of c1 */                       \
        EP_DSP16_RQ("r0", "r4", "r5", "r6", dbl0)                                                \
        EP_DSP16_RQ("r1", "r4", "r5", "r6", dbl1)                                                \
        EP_DSP16_RQ("r2", "r7", "r8", "r9", dbl2)                                                \
        EP_DSP16_RQ("r3", "r7", "r8", "r9", dbl3)                                                \
        "bfi    r0, r2, #8, #8\n\t"             /* px0 c0, px0 c1, px1 c0, px1 c1 */             \
        "bfi    r0, r1, #16, #8\n\t"                                                             \
        "bfi    r0, r3, #24, #8\n\t"                                                             \
        clamp                                                                                    \
        "ldmia  sp, {r4-r6}\n\t"                /* o0, d, oend */                                \
        "lsr    r7, r0, #16\n\t"                /* pixel 1 first: a lone pixel ends with pixel 0's */ \
        "strh   r7, [r4, r5]\n\t"                                                                \
        "strh   r0, [r4], #2\n\t"                                                                \
        "str    r4, [sp]\n\t"                                                                    \
        "cmp    r4, r6\n\t"                                                                      \
        "bne    2b\n\t"                                                                          \
        "add    sp, sp, #36\n\t"                                                                 \
        "pop    {r4-r11, pc}\n\t"

#define EP_DSP16_BODY(clamp) EP_DSP16_PAIRS(EP_DSP16_GROUP, EP_DSP16_GROUP_BYTES, "", "", "", "", clamp)
#define EP_DSP8_BODY(clamp) EP_DSP16_PAIRS(EP_DSP8_GROUP, EP_DSP8_GROUP_BYTES, EP_DSP8_DBL("r0"),          \
                                           EP_DSP8_DBL("r1"), EP_DSP8_DBL("r2"), EP_DSP8_DBL("r3"), clamp)

__attribute__((naked, noinline)) static void ep_conv_pairs_dsp16(const ep_dsp16_job *job __attribute__((unused)))
{
    __asm__ volatile(EP_DSP16_BODY(EP_DSP16_CLAMP));
}

/* the same without the clamp, for an activation range that is all of int8 (SSAT clamps already) */
__attribute__((naked, noinline)) static void ep_conv_pairs_dsp16_full(const ep_dsp16_job *job __attribute__((unused)))
{
    __asm__ volatile(EP_DSP16_BODY(""));
}

/* both again for the int8-weight stream */
__attribute__((naked, noinline)) static void ep_conv_pairs_dsp8(const ep_dsp16_job *job __attribute__((unused)))
{
    __asm__ volatile(EP_DSP8_BODY(EP_DSP16_CLAMP));
}

__attribute__((naked, noinline)) static void ep_conv_pairs_dsp8_full(const ep_dsp16_job *job __attribute__((unused)))
{
    __asm__ volatile(EP_DSP8_BODY(""));
}

/* both pixels' n inputs (n % 4 == 0) widened with the offset into the ep_patches layout: per group
 * of four, pixel 0's (x0, x2) and (x1, x3), then pixel 1's */
static void ep_widen_pair(int32_t *d, const int8_t *x0, const int8_t *x1, int32_t n, int32_t off2)
{
    const int8_t *const end = x0 + n;
    int32_t v0, v1, a, b;
    /* (in C, gcc 12 stores the four words one by one: 13 instructions per group, here 10) */
    __asm__ volatile("1:\n\t"
                     "ldr     %[v0], [%[x0]], #4\n\t"
                     "ldr     %[v1], [%[x1]], #4\n\t"
                     "sxtab16 %[a], %[off2], %[v0]\n\t"
                     "sxtab16 %[b], %[off2], %[v0], ror #8\n\t"
                     "sxtab16 %[v0], %[off2], %[v1]\n\t"
                     "sxtab16 %[v1], %[off2], %[v1], ror #8\n\t"
                     "strd    %[v0], %[v1], [%[d], #8]\n\t"
                     "strd    %[a], %[b], [%[d]], #16\n\t"
                     "cmp     %[x0], %[end]\n\t"
                     "bne     1b\n\t"
                     : [x0] "+r"(x0), [x1] "+r"(x1), [d] "+r"(d), [v0] "=&r"(v0), [v1] "=&r"(v1),
                       [a] "=&r"(a), [b] "=&r"(b)
                     : [off2] "r"(off2), [end] "r"(end)
                     : "cc", "memory");
}

/* Both pixels' patches when both windows lie inside the image and their rows are undilated: per
 * filter row one ep_widen_pair of kw * in_c bytes (the two pixels' rows side by side). Returns 0,
 * having written nothing, for any other pair (ep_patch_widen then takes each pixel). */
static int ep_widen_pair_inside(const ep_conv_params *p, const int8_t *in, int32_t pix0, int32_t pix1,
                                int32_t *wide, int32_t off2)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kh = p->kh, kw = p->kw;
    const int32_t run = kw * in_c, span = p->dil_h * (kh - 1);
    const int8_t *x[2];
    const size_t x_row = (size_t)in_w * in_c * p->dil_h;
    int32_t i, fy;
    if (p->dil_w != 1) {
        return 0;
    }
    for (i = 0; i < 2; ++i) {
        const int32_t pix = i == 0 ? pix0 : pix1;
        const int32_t ox = pix % p->out.w, oy = (pix / p->out.w) % p->out.h, b = pix / (p->out.w * p->out.h);
        const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
        if (iy0 < 0 || iy0 + span >= in_h || ix0 < 0 || ix0 + kw > in_w) {
            return 0;
        }
        x[i] = in + ((size_t)(b * in_h + iy0) * in_w + ix0) * in_c;
    }
    for (fy = 0; fy < kh; ++fy) {
        ep_widen_pair(wide + fy * run, x[0] + fy * x_row, x[1] + fy * x_row, run, off2);
    }
    return 1;
}

/* ep_conv2d on the stream: patches widened per pixel pair as in the blocked path (in place from
 * the input for a 1x1 unpadded filter, ep_patch_widen otherwise). */
__attribute__((noinline)) static void ep_conv2d_dsp16_run(const ep_conv_params *p, const int8_t *in, int8_t *out,
                                                          int32_t *wide)
{
    const int32_t out_c = p->out.c, k = p->kh * p->kw * p->in.c, npix = p->out.n * p->out.h * p->out.w;
    const int direct = p->kh == 1 && p->kw == 1 && p->pad_h == 0 && p->pad_w == 0;
    const int dense = direct && p->stride_h == 1 && p->stride_w == 1 && p->in.h == p->out.h && p->in.w == p->out.w;
    const int full = p->act_min <= -128 && p->act_max >= 127, wide16 = p->dsp_weights[0] == 16;
    void (*const pairs)(const ep_dsp16_job *) = wide16 ? (full ? ep_conv_pairs_dsp16_full : ep_conv_pairs_dsp16)
                                                       : (full ? ep_conv_pairs_dsp8_full : ep_conv_pairs_dsp8);
    const int32_t off2 = ep_offset_x2(p->in_offset);
    ep_patches v;
    ep_dsp16_job job;
    int32_t pix;
    v.wide = wide;
    job.wide = wide;
    job.xend = wide + k;
    job.w = p->dsp_weights + 1;         /* after the format word: 16 (int16 weights) or 8 */
    job.lo4 = ep_bytes4(p->act_min);
    job.hi4 = ep_bytes4(p->act_max);
    job.entry = ((EP_DSP16_UNROLL - (k / 4) % EP_DSP16_UNROLL) % EP_DSP16_UNROLL) *
                (wide16 ? EP_DSP16_GROUP_BYTES : EP_DSP8_GROUP_BYTES);
    for (pix = 0; pix < npix; pix += 2) {
        const int32_t q1 = pix + 1 < npix ? pix + 1 : pix;
        if (dense) {
            /* 1x1, stride 1, unpadded: pixel q's patch is the q-th run of k input bytes */
            ep_widen_pair(wide, in + (size_t)pix * k, in + (size_t)q1 * k, k, off2);
        } else if (direct) {
            ep_widen_pair(wide, ep_patch(p, in, pix, NULL), ep_patch(p, in, q1, NULL), k, off2);
        } else if (!ep_widen_pair_inside(p, in, pix, q1, wide, off2)) {
            ep_patch_widen(p, in, pix, &v, 0);
            ep_patch_widen(p, in, q1, &v, 1);
        }
        job.o0 = out + (size_t)pix * out_c;
        job.oend = job.o0 + out_c;
        job.d = (q1 - pix) * out_c;
        pairs(&job);
    }
}

/* not inlined into ep_conv2d: the patch buffer (k words) is on the stack only while this runs */
__attribute__((noinline)) static void ep_conv2d_dsp16(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    int32_t wide[p->kh * p->kw * p->in.c];
    ep_conv2d_dsp16_run(p, in, out, wide);
}

/* the layers the stream was generated for (dsp_layout.qualifies, the same conditions: a DSP build
 * of such a layer has no int8 weights, so no other path could take it) */
static int ep_conv2d_dsp16_ok(const ep_conv_params *p)
{
    const int32_t k = p->kh * p->kw * p->in.c;
    return p->dsp_weights != NULL && p->filter_in_c == p->in.c && p->in.c % 4 == 0 && p->out.c % 2 == 0 &&
           k > 0 && k <= EP_COL_MAX;
}
#endif

#if EP_KERNELS_MVE
/* Channels per chunk of ep_mve_pixels / ep_mve_small_pixels: their int32 sums wait on the stack
 * for the requantization pass, so the buffer is 4 * EP_MVE_CHUNK bytes whatever the layer's width. */
#define EP_MVE_CHUNK 64

/* acc[4g + j] = filter row 4g + j . x (k >= 16 bytes), g < groups: rows of k bytes from w.
 * The loop is written in assembly: from C, gcc 12 keeps neither the four filter pointers nor the
 * sums in registers (about 90 instructions per four channels of a 64-byte patch). Here VMLADAV
 * needs even registers for its sums (r0, r2, r4, r6, pinned), each filter pointer post-increments,
 * and the 16-byte steps run as a low-overhead loop (WLS/LE): per 16 inputs 5 VLDRB + 4 VMLADAVA
 * + LE = 64 MACs in 10 instructions; per four channels the first step (VMLADAV, no accumulate, so
 * no zeroing), two STRD and the next rows' pointers. A k % 16 tail is one more step with
 * predicated loads (VCTP once per call; the inactive lanes load zero and read nothing). */
/* One 16-byte step of the input against four filters into a0..a3 (`mla`: VMLADAV starts the sums,
 * VMLADAVA adds to them), and the steps of one group of four channels: the first, then a WLS/LE
 * low-overhead loop over the remaining k / 16 - 1. */
#define EP_MVE_STEP4(mla)                      \
    "vldrb.8     q0, [%[xp]], #16\n\t"         \
    "vldrb.8     q1, [%[w0]], #16\n\t"         \
    mla " %[a0], q0, q1\n\t"                    \
    "vldrb.8     q2, [%[w1]], #16\n\t"         \
    mla " %[a1], q0, q2\n\t"                    \
    "vldrb.8     q3, [%[w2]], #16\n\t"         \
    mla " %[a2], q0, q3\n\t"                    \
    "vldrb.8     q1, [%[w3]], #16\n\t"         \
    mla " %[a3], q0, q1\n\t"
#define EP_MVE_SUMS4_STEPS                     \
    "1:\n\t" EP_MVE_STEP4("vmladav.s8")        \
    "lsr         lr, %[k], #4\n\t"             \
    "sub         lr, lr, #1\n\t"               \
    "wls         lr, lr, 3f\n"                  \
    "2:\n\t" EP_MVE_STEP4("vmladava.s8")       \
    "le          lr, 2b\n"                      \
    "3:\n\t"

__attribute__((noinline)) static void ep_mve_sums4(const int8_t *x, const int8_t *w, int32_t k, int32_t groups,
                                                              int32_t *acc)
{
    register int32_t a0 __asm__("r0");
    register int32_t a1 __asm__("r2");
    register int32_t a2 __asm__("r4");
    register int32_t a3 __asm__("r6");
    const int8_t *w1, *w2, *w3;
    const int8_t *xp = x;
    int32_t *const end = acc + 4 * groups;
    /* the step count and k % 16 are remade from k in LR: twelve registers, which leaves gcc
     * the two it needs around the block */
    w1 = w + k;
    w2 = w1 + k;
    w3 = w2 + k;
    if (k % 16 == 0) {
        __asm__ volatile(
            EP_MVE_SUMS4_STEPS
            "sub         %[xp], %[xp], %[k]\n\t"
            "strd        %[a0], %[a1], [%[acc]], #8\n\t"
            "strd        %[a2], %[a3], [%[acc]], #8\n\t"
            "mov         %[w0], %[w3]\n\t"
            "add         %[w1], %[w3], %[k]\n\t"
            "add         %[w2], %[w1], %[k]\n\t"
            "add         %[w3], %[w2], %[k]\n\t"
            "cmp         %[acc], %[end]\n\t"
            "bne         1b\n\t"
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [xp] "+r"(xp), [w0] "+r"(w),
              [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [acc] "+r"(acc)
            : [end] "r"(end), [k] "r"(k)
            : "q0", "q1", "q2", "q3", "lr", "cc", "memory");
    } else {
        /* the tail comes last: the filter pointers stop at it, rest bytes short of the next
         * rows, and x goes back by k - rest */
        __asm__ volatile(
            "and         lr, %[k], #15\n\t"
            "vctp.8      lr\n"
            EP_MVE_SUMS4_STEPS
            "vpstttt\n\t"
            "vldrbt.8    q0, [%[xp]]\n\t"
            "vldrbt.8    q1, [%[w0]]\n\t"
            "vldrbt.8    q2, [%[w1]]\n\t"
            "vldrbt.8    q3, [%[w2]]\n\t"
            "vmladava.s8 %[a0], q0, q1\n\t"
            "vmladava.s8 %[a1], q0, q2\n\t"
            "vpst\n\t"
            "vldrbt.8    q1, [%[w3]]\n\t"
            "vmladava.s8 %[a2], q0, q3\n\t"
            "vmladava.s8 %[a3], q0, q1\n\t"
            "and         lr, %[k], #15\n\t"
            "sub         %[xp], %[xp], %[k]\n\t"
            "add         %[xp], %[xp], lr\n\t"
            "strd        %[a0], %[a1], [%[acc]], #8\n\t"
            "strd        %[a2], %[a3], [%[acc]], #8\n\t"
            "add         %[w0], %[w3], lr\n\t"
            "add         %[w1], %[w0], %[k]\n\t"
            "add         %[w2], %[w1], %[k]\n\t"
            "add         %[w3], %[w2], %[k]\n\t"
            "cmp         %[acc], %[end]\n\t"
            "bne         1b\n\t"
            : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [xp] "+r"(xp), [w0] "+r"(w),
              [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [acc] "+r"(acc)
            : [end] "r"(end), [k] "r"(k)
            : "q0", "q1", "q2", "q3", "lr", "cc", "memory");
    }
}

/* o[c] = requantized kernel_sums[c] + acc[c], c < 4 * groups (ep_requant4_full's arithmetic, one
 * vector of four channels per pass, VLDRW/VSTRB post-incremented, a low-overhead loop) */
static inline __attribute__((always_inline)) void ep_mve_requant_groups(const int32_t *acc, const int32_t *ks, const int32_t *mult,
                                                            const int32_t *shift, int32_t groups, int32_t out_offset,
                                                            int32x4_t lo, int32x4_t hi, int right_only, int8_t *o)
{
    const int32x4_t zero = vdupq_n_s32(0);
    if (right_only) {
        /* every shift <= -1 (ep_mve_right_only): no left shift, and (x & right) >> 31 is x >> 31 */
        __asm__ volatile(
            "dls         lr, %[n]\n"
            "1:\n\t"
            "vldrw.32    q0, [%[acc]], #16\n\t"
            "vldrw.32    q1, [%[ks]], #16\n\t"
            "vadd.i32    q0, q0, q1\n\t"
            "vldrw.32    q2, [%[m]], #16\n\t"
            "vldrw.32    q1, [%[sh]], #16\n\t"
            "vqrdmulh.s32 q0, q0, q2\n\t"
            "vshr.s32    q2, q0, #31\n\t"
            "vqadd.s32   q0, q0, q2\n\t"
            "vrshl.s32   q0, q0, q1\n\t"
            "vadd.i32    q0, q0, %[off]\n\t"
            "vmax.s32    q0, q0, %q[lo]\n\t"
            "vmin.s32    q0, q0, %q[hi]\n\t"
            "vstrb.32    q0, [%[o]], #4\n\t"   /* narrowing store: o in r0-r7 ("l") */
            "le          lr, 1b\n\t"
            : [acc] "+r"(acc), [ks] "+r"(ks), [m] "+r"(mult), [sh] "+r"(shift), [o] "+l"(o)
            : [n] "r"(groups), [off] "r"(out_offset), [lo] "w"(lo), [hi] "w"(hi)
            : "q0", "q1", "q2", "lr", "memory");
        return;
    }
    __asm__ volatile(
        "dls         lr, %[n]\n"
        "1:\n\t"
        "vldrw.32    q0, [%[acc]], #16\n\t"
        "vldrw.32    q1, [%[ks]], #16\n\t"
        "vadd.i32    q0, q0, q1\n\t"
        "vldrw.32    q1, [%[sh]], #16\n\t"
        "vmax.s32    q2, q1, %q[zero]\n\t"
        "vmin.s32    q1, q1, %q[zero]\n\t"
        "vshl.s32    q0, q0, q2\n\t"
        "vldrw.32    q2, [%[m]], #16\n\t"
        "vqrdmulh.s32 q0, q0, q2\n\t"
        "vand        q2, q0, q1\n\t"
        "vshr.s32    q2, q2, #31\n\t"
        "vqadd.s32   q0, q0, q2\n\t"
        "vrshl.s32   q0, q0, q1\n\t"
        "vadd.i32    q0, q0, %[off]\n\t"
        "vmax.s32    q0, q0, %q[lo]\n\t"
        "vmin.s32    q0, q0, %q[hi]\n\t"
        "vstrb.32    q0, [%[o]], #4\n\t"   /* narrowing store: o in r0-r7 ("l") */
        "le          lr, 1b\n\t"
        : [acc] "+r"(acc), [ks] "+r"(ks), [m] "+r"(mult), [sh] "+r"(shift), [o] "+l"(o)
        : [n] "r"(groups), [off] "r"(out_offset), [zero] "w"(zero), [lo] "w"(lo), [hi] "w"(hi)
        : "q0", "q1", "q2", "lr", "memory");
}

/* 1 when every channel shifts right by at least one bit (the usual case): ep_mve_requant_groups
 * then drops the left shift and the mask of its rounding fix */
static int ep_mve_right_only(const int32_t *shift, int32_t n)
{
    int32_t c;
    for (c = 0; c < n; ++c) {
        if (shift[c] > -1) {
            return 0;
        }
    }
    return 1;
}

/* One filter against a patch held in 1..4 Q registers: the filter's bytes stream from one
 * post-incremented pointer (the rows are contiguous), the first vector starts the sum */
#define EP_MVE_CH1(a) "vldrb.8 q4, [%[w]], #16\n\tvmladav.s8 %[" a "], %q[x0], q4\n\t"
#define EP_MVE_CH2(a) EP_MVE_CH1(a) "vldrb.8 q5, [%[w]], #16\n\tvmladava.s8 %[" a "], %q[x1], q5\n\t"
#define EP_MVE_CH3(a) EP_MVE_CH2(a) "vldrb.8 q4, [%[w]], #16\n\tvmladava.s8 %[" a "], %q[x2], q4\n\t"
#define EP_MVE_CH4(a) EP_MVE_CH3(a) "vldrb.8 q5, [%[w]], #16\n\tvmladava.s8 %[" a "], %q[x3], q5\n\t"
#define EP_MVE_HELD(CH)                                                                                     \
    __asm__ volatile("dls lr, %[n]\n"                                                                      \
                     "1:\n\t" CH("a0") CH("a1") CH("a2") CH("a3")                                        \
                     "strd %[a0], %[a1], [%[acc]], #8\n\t"                                               \
                     "strd %[a2], %[a3], [%[acc]], #8\n\t"                                               \
                     "le lr, 1b\n\t"                                                                      \
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w),          \
                       [acc] "+r"(acc)                                                                      \
                     : [x0] "w"(x0), [x1] "w"(x1), [x2] "w"(x2), [x3] "w"(x3), [n] "r"(groups)           \
                     : "q4", "q5", "lr", "memory")

/* The same with a k % 16 tail: the patch's last vector is loaded predicated (zero past k), and
 * each filter's tail is one predicated load (VCTP once; it reads nothing past the filter) and an
 * add of k % 16 to the pointer */
#define EP_MVE_TAIL(a, xl) "vpst\n\tvldrbt.8 q6, [%[w]]\n\tadd %[w], %[w], %[rest]\n\tvmladava.s8 %[" a "], %q[" xl "], q6\n\t"
#define EP_MVE_CH1T(a) EP_MVE_CH1(a) EP_MVE_TAIL(a, "x1")
#define EP_MVE_CH2T(a) EP_MVE_CH2(a) EP_MVE_TAIL(a, "x2")
#define EP_MVE_CH3T(a) EP_MVE_CH3(a) EP_MVE_TAIL(a, "x3")
#define EP_MVE_HELDT(CH)                                                                                    \
    __asm__ volatile("vctp.8 %[rest]\n\t"                                                                  \
                     "dls lr, %[n]\n"                                                                      \
                     "1:\n\t" CH("a0") CH("a1") CH("a2") CH("a3")                                        \
                     "strd %[a0], %[a1], [%[acc]], #8\n\t"                                               \
                     "strd %[a2], %[a3], [%[acc]], #8\n\t"                                               \
                     "le lr, 1b\n\t"                                                                      \
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w] "+r"(w),          \
                       [acc] "+r"(acc)                                                                      \
                     : [x0] "w"(x0), [x1] "w"(x1), [x2] "w"(x2), [x3] "w"(x3), [n] "r"(groups),          \
                       [rest] "r"(rest)                                                                     \
                     : "q4", "q5", "q6", "lr", "memory")

/* ep_mve_sums4 for 16 <= k <= 64: the patch stays in registers for every channel, so four
 * channels cost 4 * ceil(k / 16) VLDRB + as many VMLADAV, two STRD and the LE (k = 64: 35
 * instructions for 256 MACs), plus a VPST and an ADD per filter when k % 16 != 0 */
__attribute__((noinline)) static void ep_mve_sums_held(const int8_t *x, const int8_t *w, int32_t k, int32_t groups,
                                                       int32_t *acc)
{
    register int32_t a0 __asm__("r0");
    register int32_t a1 __asm__("r2");
    register int32_t a2 __asm__("r4");
    register int32_t a3 __asm__("r6");
    const int32_t rest = k % 16;
    /* vector i of the patch: whole, predicated (the tail), or not used (a copy of the first) */
#define EP_MVE_XV(i) (k >= 16 * (i) + 16 ? vldrbq_s8(x + 16 * (i)) : k > 16 * (i) ? vldrbq_z_s8(x + 16 * (i), \
                      vctp8q((uint32_t)rest)) : x0)
    const int8x16_t x0 = vldrbq_s8(x), x1 = EP_MVE_XV(1), x2 = EP_MVE_XV(2), x3 = EP_MVE_XV(3);
#undef EP_MVE_XV
    if (rest == 0) {
        if (k == 16) {
            EP_MVE_HELD(EP_MVE_CH1);
        } else if (k == 32) {
            EP_MVE_HELD(EP_MVE_CH2);
        } else if (k == 48) {
            EP_MVE_HELD(EP_MVE_CH3);
        } else {
            EP_MVE_HELD(EP_MVE_CH4);
        }
    } else if (k < 32) {
        EP_MVE_HELDT(EP_MVE_CH1T);
    } else if (k < 48) {
        EP_MVE_HELDT(EP_MVE_CH2T);
    } else {
        EP_MVE_HELDT(EP_MVE_CH3T);
    }
}



/* What ep_mve_pixels needs, filled once per layer */
typedef struct {
    const int8_t *weights;
    const int32_t *ks, *mult, *shift;
    int32_t k, groups, out_offset, right_only;
    int32_t run, kh, x_row;         /* ep_mve_small_pixels' row copies */
    int32x4_t lo, hi;
} ep_mve_pass;

static void ep_mve_pass_init(ep_mve_pass *cx, const ep_conv_params *p, int32_t k, int32_t groups)
{
    cx->weights = p->weights;
    cx->ks = p->kernel_sums;
    cx->mult = p->mult;
    cx->shift = p->shift;
    cx->k = k;
    cx->groups = groups;
    cx->out_offset = p->out_offset;
    cx->right_only = ep_mve_right_only(p->shift, p->out.c);
    cx->lo = vdupq_n_s32(p->act_min);
    cx->hi = vdupq_n_s32(p->act_max);
}

/* Every full group of four output channels of npx pixels (pixel i: the k-byte patch at x + i *
 * x_step, k >= 16, its outputs at o + i * 4 * groups): the sums of up to EP_MVE_CHUNK channels
 * at a time (ep_mve_sums_held or ep_mve_sums4), then their requantization
 * (ep_mve_requant_groups); a run of pixels costs one call. */
__attribute__((noinline)) static void ep_mve_pixels(const ep_mve_pass *cx, const int8_t *x, int32_t x_step, int8_t *o,
                                                    int32_t npx)
{
    int32_t acc[EP_MVE_CHUNK];      /* VLDRW.32 needs word alignment only */
    const int32_t k = cx->k, groups = cx->groups, held = k <= 64, right_only = cx->right_only;
    const int8_t *const weights = cx->weights;
    int32_t g;
    for (; npx > 0; --npx, x += x_step, o += 4 * groups) {
        for (g = 0; g < groups; g += EP_MVE_CHUNK / 4) {
            const int32_t n = groups - g < EP_MVE_CHUNK / 4 ? groups - g : EP_MVE_CHUNK / 4;
            if (held) {
                ep_mve_sums_held(x, weights + (size_t)g * 4 * k, k, n, acc);
            } else {
                ep_mve_sums4(x, weights + (size_t)g * 4 * k, k, n, acc);
            }
            ep_mve_requant_groups(acc, cx->ks + 4 * g, cx->mult + 4 * g, cx->shift + 4 * g, n, cx->out_offset,
                                  cx->lo, cx->hi, right_only, o + 4 * g);
        }
    }
}


/* Every full group of four output channels of one pixel (x: its k-byte patch, k >= 16): the sums
 * of up to EP_MVE_CHUNK channels at a time (ep_mve_sums4), then their requantization
 * (ep_mve_requant_groups). Patches shorter than a vector take the intrinsics loop below. */
__attribute__((noinline)) static void ep_conv_groups_mve(const ep_conv_params *p, const int8_t *x, int32_t k,
                                                         int32_t groups, int8_t *o)
{
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const ks = p->kernel_sums, *const mult = p->mult, *const shift = p->shift;
    const int8_t *wrow = p->weights;
    int32_t g, i;
    if (k >= 16) {
        ep_mve_pass cx;
        ep_mve_pass_init(&cx, p, k, groups);
        ep_mve_pixels(&cx, x, 0, o, 1);
        return;
    }
    for (g = 0; g < groups; ++g, wrow += 4 * k) {
        const int8_t *w0 = wrow, *w1 = wrow + k, *w2 = wrow + 2 * k, *w3 = wrow + 3 * k, *xp = x;
        const mve_pred16_t pr = vctp8q((uint32_t)k);
        int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        int32x4_t acc;
        (void)i;
        {
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
/* ep_patch for a window cut by the border whose filter rows are at most a vector (kw * in_c <= 16,
 * undilated columns): per filter row one predicated load of the in-image taps, the padding lanes
 * set to -in_offset (VPSEL), one predicated store; rows outside the image are padding. Inactive
 * lanes touch no memory, so the load's base may lie left of the row. */
__attribute__((noinline)) static void ep_patch_rows_mve(const ep_conv_params *p, const int8_t *in, int32_t b,
                                                        int32_t iy0, int32_t ix0, int8_t *col)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, run = p->kw * in_c;
    const int8x16_t pad = vdupq_n_s8((int8_t)-p->in_offset);
    const mve_pred16_t prun = vctp8q((uint32_t)run);
    const int32_t lo = ix0 < 0 ? -ix0 * in_c : 0, right = (in_w - ix0) * in_c;
    const int32_t hi = right < run ? (right > 0 ? right : 0) : run;
    const mve_pred16_t pin = (mve_pred16_t)(vctp8q((uint32_t)hi) & ~vctp8q((uint32_t)lo));
    const intptr_t left = (intptr_t)ix0 * in_c;
    int32_t fy;
    for (fy = 0; fy < p->kh; ++fy, col += run) {
        const int32_t iy = iy0 + p->dil_h * fy;
        if (iy < 0 || iy >= in_h) {
            vstrbq_p_s8(col, pad, prun);
        } else {
            const uintptr_t row = (uintptr_t)(in + (size_t)(b * in_h + iy) * in_w * in_c);
            const int8x16_t v = vldrbq_z_s8((const int8_t *)(row + (uintptr_t)left), pin);
            vstrbq_p_s8(col, vpselq_s8(v, pad, pin), prun);
        }
    }
}
#endif

#if EP_KERNELS_MVE
/* The layers ep_conv_small_mve takes: a patch of 17..32 bytes gathered from filter rows of at
 * most a vector (the 3x3x3 stems), whole groups of four channels */
static int ep_conv_small_mve_ok(const ep_conv_params *p)
{
    const int32_t k = p->kh * p->kw * p->in.c;
    return p->out.c % 4 == 0 && p->kernel_sums != NULL && k > 16 && k <= 32 && p->kw * p->in.c <= 16 &&
           p->dil_w == 1 && !(p->kh == 1 && p->kw == 1);
}

/* acc[4g + j] = filter row 4g + j . the 32-byte zero-padded patch col, g < groups (k in 17..32) */
__attribute__((noinline)) static void ep_mve_small_sums4(const int8_t *col, const int8_t *w, int32_t k, int32_t n,
                                         int32_t *acc)
{
    register int32_t a0 __asm__("r0");
    register int32_t a1 __asm__("r2");
    register int32_t a2 __asm__("r4");
    register int32_t a3 __asm__("r6");
    const int8_t *w0 = w, *w1 = w0 + k, *w2 = w1 + k, *w3 = w2 + k;
    const int32_t k4 = 4 * k;
    const int8x16_t x0 = vldrbq_s8(col), x1 = vldrbq_s8(col + 16);
    int32_t *ap = acc;
    __asm__ volatile(
        "vctp.8      %[kt]\n\t"
        "dls         lr, %[n]\n"
        "1:\n\t"
        "vldrb.8     q2, [%[w0]]\n\t"
        "vmladav.s8  %[a0], %q[x0], q2\n\t"
        "vldrb.8     q3, [%[w1]]\n\t"
        "vmladav.s8  %[a1], %q[x0], q3\n\t"
        "vldrb.8     q2, [%[w2]]\n\t"
        "vmladav.s8  %[a2], %q[x0], q2\n\t"
        "vldrb.8     q3, [%[w3]]\n\t"
        "vmladav.s8  %[a3], %q[x0], q3\n\t"
        "vpstttt\n\t"
        "vldrbt.8    q2, [%[w0], #16]\n\t"
        "vldrbt.8    q3, [%[w1], #16]\n\t"
        "vldrbt.8    q4, [%[w2], #16]\n\t"
        "vldrbt.8    q5, [%[w3], #16]\n\t"
        "vmladava.s8 %[a0], %q[x1], q2\n\t"
        "vmladava.s8 %[a1], %q[x1], q3\n\t"
        "vmladava.s8 %[a2], %q[x1], q4\n\t"
        "vmladava.s8 %[a3], %q[x1], q5\n\t"
        "strd        %[a0], %[a1], [%[ap]], #8\n\t"
        "strd        %[a2], %[a3], [%[ap]], #8\n\t"
        "add         %[w0], %[w0], %[k4]\n\t"
        "add         %[w1], %[w1], %[k4]\n\t"
        "add         %[w2], %[w2], %[k4]\n\t"
        "add         %[w3], %[w3], %[k4]\n\t"
        "le          lr, 1b\n\t"
        : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [w0] "+r"(w0),
          [w1] "+r"(w1), [w2] "+r"(w2), [w3] "+r"(w3), [ap] "+r"(ap)
        : [x0] "w"(x0), [x1] "w"(x1), [kt] "r"(k - 16), [k4] "r"(k4), [n] "r"(n)
        : "q2", "q3", "q4", "q5", "lr", "cc", "memory");
}

/* Patches of 17..32 bytes (the stems): the patch goes into a 32-byte buffer whose bytes past k stay
 * zero, so it is two vectors loaded once per pixel; each filter is one full vector and one
 * predicated one (VCTP once per layer; inactive lanes read nothing past the weights), 8 VMLADAV
 * per four channels. A window inside the image is copied a filter row at a time (one predicated
 * VLDRB/VSTRB pair per row); a window cut by the border takes ep_patch. */
/* npx pixels of ep_conv_small_mve: pixel i's window copied from src + i * src_step a filter row at a
 * time (src NULL: col already holds the patch), then every channel group */
__attribute__((noinline)) static void ep_mve_small_pixels(const ep_mve_pass *cx, const int8_t *src, int32_t src_step,
                                                          int8_t *col, int8_t *o, int32_t npx)
{
    int32_t acc[EP_MVE_CHUNK];
    const int32_t k = cx->k, groups = cx->groups, run = cx->run, kh = cx->kh, x_row = cx->x_row;
    const int32_t right_only = cx->right_only;
    int32_t g;
    for (; npx > 0; --npx, o += 4 * groups) {
        if (src != NULL) {
            const int8_t *s = src;
            src += src_step;
            int8_t *d = col;
            __asm__ volatile(
                "vctp.8      %[run]\n\t"
                "dls         lr, %[kh]\n"
                "1:\n\t"
                "vpstt\n\t"
                "vldrbt.8    q0, [%[s]]\n\t"
                "vstrbt.8    q0, [%[d]]\n\t"
                "add         %[s], %[s], %[x_row]\n\t"
                "add         %[d], %[d], %[run]\n\t"
                "le          lr, 1b\n\t"
                : [s] "+r"(s), [d] "+r"(d)
                : [run] "r"(run), [kh] "r"(kh), [x_row] "r"(x_row)
                : "q0", "lr", "memory");
        }
        for (g = 0; g < groups; g += EP_MVE_CHUNK / 4) {
            const int32_t n = groups - g < EP_MVE_CHUNK / 4 ? groups - g : EP_MVE_CHUNK / 4;
            ep_mve_small_sums4(col, cx->weights + (size_t)g * 4 * k, k, n, acc);
            ep_mve_requant_groups(acc, cx->ks + 4 * g, cx->mult + 4 * g, cx->shift + 4 * g, n, cx->out_offset, cx->lo,
                                  cx->hi, right_only, o + 4 * g);
        }
    }
}

__attribute__((noinline)) static void ep_conv_small_mve(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kh = p->kh, kw = p->kw;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t sw = p->stride_w, pad_w = p->pad_w;
    /* the output columns whose windows lie inside the image's width: [ox0, ox1) */
    const int32_t ox0 = (pad_w + sw - 1) / sw, ox1_raw = (in_w - kw + pad_w) / sw + 1;
    const int32_t ox1 = in_w < kw ? ox0 : (ox1_raw < out_w ? ox1_raw : out_w);
    ep_mve_pass cx;
    int8_t col[32];
    int32_t b, oy, ox;
    ep_mve_pass_init(&cx, p, kh * kw * in_c, out_c / 4);
    cx.run = kw * in_c;
    cx.kh = kh;
    cx.x_row = in_w * in_c * p->dil_h;
    memset(col, 0, sizeof col);
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int rows_in = iy0 >= 0 && iy0 + p->dil_h * (kh - 1) < in_h;
            int8_t *const orow = out + (size_t)(b * out_h + oy) * out_w * out_c;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * sw - pad_w;
                if (rows_in && ox == ox0 && ox1 > ox0) {
                    /* the row's run of windows inside the image in one call */
                    ep_mve_small_pixels(&cx, in + ((size_t)(b * in_h + iy0) * in_w + ix0) * in_c, sw * in_c, col,
                                        orow + (size_t)ox * out_c, ox1 - ox0);
                    ox = ox1 - 1;
                    continue;
                }
                ep_patch_rows_mve(p, in, b, iy0, ix0, col);
                ep_mve_small_pixels(&cx, NULL, 0, col, orow + (size_t)ox * out_c, 1);
            }
        }
    }
}
#endif

#if EP_KERNELS_MVE
/* The layers ep_conv_mve takes: whole groups of four channels, patches of at least a vector */
static int ep_conv_mve_ok(const ep_conv_params *p)
{
    return p->out.c % 4 == 0 && p->kernel_sums != NULL && p->kh * p->kw * p->in.c >= 16;
}

/* Ungrouped convolution on Helium, pixel by pixel without divisions: a 1x1 unpadded filter reads
 * its patch in place, a window inside the image is copied into col a filter row at a time (one
 * predicated VLDRB/VSTRB pair per 16 bytes), a window cut by the border takes ep_patch; then
 * every channel group of the pixel (ep_conv_groups_mve). */
__attribute__((noinline)) static void ep_conv_mve(const ep_conv_params *p, const int8_t *in, int8_t *out, int8_t *col)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kh = p->kh, kw = p->kw;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c, k = kh * kw * in_c;
    const int32_t run = kw * in_c, groups = out_c / 4;
    const size_t x_row = (size_t)in_w * in_c * p->dil_h, x_col = (size_t)p->stride_w * in_c;
    const int direct = kh == 1 && kw == 1 && p->pad_h == 0 && p->pad_w == 0;
    ep_mve_pass cx;
    int32_t b, oy, ox, pix = 0;
    ep_mve_pass_init(&cx, p, k, groups);
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int rows_in = iy0 >= 0 && iy0 + p->dil_h * (kh - 1) < in_h;
            /* the row's first window; only formed when it lies in the image */
            const int8_t *x = rows_in ? in + (size_t)(b * in_h + iy0) * in_w * in_c : in;
            int8_t *o = out + (size_t)pix * out_c;
            int32_t ix0 = -p->pad_w;
            for (ox = 0; ox < out_w; ++ox, ++pix, o += out_c, ix0 += p->stride_w) {
                if (direct) {
                    /* the whole row of outputs in one call */
                    ep_mve_pixels(&cx, x, (int32_t)x_col, o, out_w);
                    pix += out_w;      /* break skips the loop's ++pix */
                    break;
                }
                if (rows_in && p->dil_w == 1 && ix0 >= 0 && ix0 + kw <= in_w) {
                    const int8_t *r = x + (size_t)ix0 * in_c;
                    int8_t *c = col;
                    int32_t fy;
                    for (fy = 0; fy < kh; ++fy, r += x_row) {
                        const int8_t *s = r;
                        int32_t n = run;
                        for (; n > 16; n -= 16, s += 16, c += 16) {
                            vstrbq_s8(c, vldrbq_s8(s));
                        }
                        {
                            const mve_pred16_t pr = vctp8q((uint32_t)n);
                            vstrbq_p_s8(c, vldrbq_z_s8(s, pr), pr);
                            c += n;
                        }
                    }
                    ep_mve_pixels(&cx, col, 0, o, 1);
                    continue;
                }
                if (p->dil_w == 1 && run <= 16) {
                    ep_patch_rows_mve(p, in, b, iy0, ix0, col);
                    ep_mve_pixels(&cx, col, 0, o, 1);
                    continue;
                }
                ep_mve_pixels(&cx, ep_patch(p, in, pix, col), 0, o, 1);
            }
        }
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

    for (pix = 0; pix < npix; pix += EP_BLOCK_PX) {
        int8_t *o[EP_BLOCK_PX];
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
#if EP_KERNELS_MVE
    if (ep_conv_small_mve_ok(p)) {
        ep_conv_small_mve(p, in, out);
        return;
    }
    if (ep_conv_mve_ok(p)) {
        ep_conv_mve(p, in, out, col);
        return;
    }
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

#if EP_KERNELS_DSP
/* ---- Cortex-M4/M7: convolutions with few input channels (KWS's 10x4x1 first conv, the 3x3x3
 * stems), filters laid out by firmware_gen/stem.py --------------------------------------------
 * Four output pixels x two output channels per pass, all eight accumulators in registers. Each
 * pixel's patch is widened once (x + in_offset as int16 pairs, SXTAB16) into a small buffer that
 * holds word j of the four pixels side by side; the filters are stored widened and doubled, so per
 * word the loop runs one LDRD of two filter words, two LDRD of four patch words and eight SMLAD:
 * 16 MACs in 11 instructions. The loop over the words is unrolled EP_STEM_MAX_WORDS times and
 * entered at the layer's first word (a computed branch): no counter, no bound register. The
 * doubled sums are 2 * (bias + sum), the SMMULR operand of the DSP requantization (ep_dsp_rq),
 * exact because the layer passes ep_dsp_rq_ok; the requantization and packing follow in the same
 * assembly, with the accumulators still in their registers. */
#define EP_STEM_MAX_WORDS 32    /* firmware_gen/stem.py MAX_WORDS */
#define EP_STEM_STEP_BYTES 44   /* one EP_STEM_STEP: eleven 32-bit instructions (checked in
                                 * tests/test_kernels_arm_stem.py from the disassembly) */

/* words of one widened patch: the rows' kw * in_c bytes in groups of four, then the rows'
 * remaining bytes together, padded to a group of four (stem.taps) */
static int32_t ep_stem_words(int32_t kh, int32_t run)
{
    return 2 * (kh * (run / 4) + (kh * (run % 4) + 3) / 4);
}

/* words ep_stem_pairs multiplies: all but a last word of pad taps only (one tap in the last group of
 * the remaining bytes, 3x3x1 filters; stem.steps), which the table leaves out */
static int32_t ep_stem_steps(int32_t kh, int32_t run)
{
    return ep_stem_words(kh, run) - (kh * (run % 4) % 4 == 1 ? 1 : 0);
}

/* bytes 0, 2 and 1, 3 of v as x + in_offset int16 pairs into d[0] and d[4] (the column of one
 * pixel in the block's buffer) */
#define EP_STEM_WIDEN(v, off2, d)                         \
    do {                                                  \
        (d)[0] = __sxtab16((off2), (v));                  \
        (d)[4] = ep_sxtab16_ror8((off2), (v));            \
    } while (0)

/* The widened patch of a window whose kh rows of run bytes start x_row apart at src, into d[4 * j]
 * (word j; d is one pixel's column of the block's buffer): each row's groups of four bytes, then
 * the rows' remaining bytes together, the last group padded with pad bytes (widened: 0). */
static void ep_stem_rows(const int8_t *src, int32_t x_row, int32_t kh, int32_t run, int32_t off2, uint32_t pad,
                         int32_t *d)
{
    const int32_t full = run & ~3;
    const int8_t *x = src;
    int32_t fy, i;
    /* the groups of four: one pass, rows of full bytes */
    for (fy = 0; fy < kh; ++fy, x += x_row) {
        for (i = 0; i < full; i += 4, d += 8) {
            const int32_t v = ep_read_s8x4(x + i);
            EP_STEM_WIDEN(v, off2, d);
        }
    }
    if (full < run) {
        /* the rows' rem remaining bytes, four to a word: a row of at least four bytes gives them
         * as the top of its last word (one load), a shorter one byte by byte */
        const int32_t rem = run - full, bits = 8 * rem;
        uint32_t acc = 0;
        int32_t sh = 0;
        for (fy = 0; fy < kh; ++fy, src += x_row) {
            uint32_t v;
            if (run >= 4) {
                v = (uint32_t)ep_read_s8x4(src + run - 4) >> (32 - bits);
            } else {
                v = 0;
                for (i = 0; i < rem; ++i) {
                    v |= (uint32_t)(uint8_t)src[i] << (8 * i);
                }
            }
            acc |= v << sh;
            sh += bits;
            if (sh >= 32) {
                EP_STEM_WIDEN((int32_t)acc, off2, d);
                d += 8;
                sh -= 32;
                acc = sh > 0 ? v >> (bits - sh) : 0;
            }
        }
        if (sh > 0) {
            acc |= (pad * 0x01010101u) << sh;
            EP_STEM_WIDEN((int32_t)acc, off2, d);
        }
    }
}

/* ep_stem_rows for the 3x3x3 stems (three rows of 9 bytes: two groups and one remaining byte
 * each), unrolled; pad24: the pad byte in the top byte */
static inline void ep_stem_rows_3x9(const int8_t *src, int32_t x_row, int32_t off2, uint32_t pad24, int32_t *d)
{
    const int8_t *r1 = src + x_row, *r2 = r1 + x_row;
    int32_t v;
    v = ep_read_s8x4(src);
    EP_STEM_WIDEN(v, off2, d);
    v = ep_read_s8x4(src + 4);
    EP_STEM_WIDEN(v, off2, d + 8);
    v = ep_read_s8x4(r1);
    EP_STEM_WIDEN(v, off2, d + 16);
    v = ep_read_s8x4(r1 + 4);
    EP_STEM_WIDEN(v, off2, d + 24);
    v = ep_read_s8x4(r2);
    EP_STEM_WIDEN(v, off2, d + 32);
    v = ep_read_s8x4(r2 + 4);
    EP_STEM_WIDEN(v, off2, d + 40);
    v = (int32_t)((uint32_t)(uint8_t)src[8] | (uint32_t)(uint8_t)r1[8] << 8 | (uint32_t)(uint8_t)r2[8] << 16 | pad24);
    EP_STEM_WIDEN(v, off2, d + 48);
}

/* ep_stem_rows for 3 rows of 3 bytes (the 3x3 convs of one input channel, fmnist's first layer):
 * words r0[0..2] r1[0], r1[1..2] r2[0..1], r2[2] and three pad bytes (stem.taps), five loads. The
 * 4-byte reads at r0 and r1 + 1 end inside the next row (x_row >= 3), never past the input. */
static inline void ep_stem_rows_3x3(const int8_t *src, int32_t x_row, int32_t off2, uint32_t pad8, int32_t *d)
{
    const int8_t *r1 = src + x_row, *r2 = r1 + x_row;
    uint16_t h;
    int32_t v;
    memcpy(&h, r2, 2);
    v = (int32_t)(((uint32_t)ep_read_s8x4(src) & 0xFFFFFFu) | (uint32_t)(uint8_t)r1[0] << 24);
    EP_STEM_WIDEN(v, off2, d);
    v = (int32_t)(((uint32_t)ep_read_s8x4(r1 + 1) & 0xFFFFu) | (uint32_t)h << 16);
    EP_STEM_WIDEN(v, off2, d + 8);
    v = (int32_t)((uint32_t)(uint8_t)r2[2] | pad8);
    EP_STEM_WIDEN(v, off2, d + 16);
}

/* ep_stem_border for 3 rows of 3 bytes: the window's bytes into a 12-byte copy (pad bytes where the
 * reference skips the tap), widened from there by ep_stem_rows_3x3 (rows 3 bytes apart). */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-distribute-patterns")))    /* no memcpy call for the byte loop */
#endif
__attribute__((noinline)) static void ep_stem_border_3x3(const ep_conv_params *p, const int8_t *in, int32_t b,
                                                         int32_t iy0, int32_t ix0, int32_t *d)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kw = p->kw;
    const int32_t fx0 = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0;
    const int32_t fx1 = in_w - ix0 < kw ? (in_w - ix0 > fx0 ? in_w - ix0 : fx0) : kw;
    const int32_t lo = fx0 * in_c, hi = fx1 * in_c, x0 = ix0 * in_c;
    const uint32_t pad = (uint8_t)-p->in_offset, pad4 = pad * 0x01010101u;
    uint32_t words[3];
    int8_t *w = (int8_t *)words;
    int32_t fy, i;
    words[0] = pad4;
    words[1] = pad4;
    words[2] = pad4;
    for (fy = 0; fy < 3; ++fy) {
        const int32_t iy = iy0 + p->dil_h * fy;
        if (iy >= 0 && iy < in_h) {
            const int8_t *row = in + (size_t)(b * in_h + iy) * in_w * in_c + x0;
            for (i = lo; i < hi; ++i) {
                w[3 * fy + i] = row[i];
            }
        }
    }
    ep_stem_rows_3x3(w, 3, ep_offset_x2(p->in_offset), pad * 0x01010100u, d);
}

/* A window with padding taps, row by row: a row above or below the image is zero words (its
 * remaining bytes pad bytes), a row cut by the left or right border is first copied with its
 * padding taps as pad = -in_offset bytes (widened: 0, the term the reference skips). */
#if defined(__GNUC__) && !defined(__clang__)
/* gcc would turn the byte loop into memset/memcpy calls, the calls this avoids */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
#endif
__attribute__((noinline)) static void ep_stem_border(const ep_conv_params *p, const int8_t *in, int32_t b, int32_t iy0,
                                                     int32_t ix0, int32_t *d)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kh = p->kh, kw = p->kw, run = kw * in_c;
    const int32_t fx0 = ix0 < 0 ? (-ix0 < kw ? -ix0 : kw) : 0;
    const int32_t fx1 = in_w - ix0 < kw ? (in_w - ix0 > fx0 ? in_w - ix0 : fx0) : kw;
    const int32_t lo = fx0 * in_c, hi = fx1 * in_c, x0 = ix0 * in_c, full = run & ~3;
    const int32_t off2 = ep_offset_x2(p->in_offset);
    const uint32_t pad = (uint8_t)-p->in_offset;
    const int cut = fx0 > 0 || fx1 < kw;
    const int32_t row_len = in_w * in_c;
    const uint32_t pad4 = pad * 0x01010101u;
    int32_t *left = d + 4 * (kh * (full / 2));
    int8_t row_bytes[4 * (EP_STEM_MAX_WORDS / 2) + 3];
    uint32_t acc = 0;
    int32_t sh = 0, fy, i;
    for (fy = 0; fy < kh; ++fy) {
        const int32_t iy = iy0 + p->dil_h * fy;
        const int8_t *src = NULL;
        if (iy >= 0 && iy < in_h) {
            const int8_t *row = in + (size_t)(b * in_h + iy) * in_w * in_c;
            if (cut && run == 4 && row_len >= 4 && ((lo > 0 && lo < 4 && hi == 4) || (lo == 0 && hi > 0 && hi < 4))) {
                /* one word cut on one side (KWS's 10x4x1): a word of the row, shifted, and pad bytes */
                const uint32_t w = lo > 0 ? (uint32_t)ep_read_s8x4(row) << (8 * lo) | pad4 >> (32 - 8 * lo)
                                          : (uint32_t)ep_read_s8x4(row + row_len - 4) >> (32 - 8 * hi) |
                                                pad4 << (8 * hi);
                memcpy(row_bytes, &w, 4);
                src = row_bytes;
            } else if (cut) {
                for (i = 0; i < lo; ++i) {
                    row_bytes[i] = (int8_t)pad;
                }
                for (; i < hi; ++i) {
                    row_bytes[i] = row[x0 + i];
                }
                for (; i < run; ++i) {
                    row_bytes[i] = (int8_t)pad;
                }
                src = row_bytes;
            } else {
                src = row + x0;
            }
            for (i = 0; i < full; i += 4, d += 8) {
                const int32_t v = ep_read_s8x4(src + i);
                EP_STEM_WIDEN(v, off2, d);
            }
        } else {
            for (i = 0; i < full; i += 4, d += 8) {
                d[0] = 0;
                d[4] = 0;
            }
        }
        for (i = full; i < run; ++i) {
            acc |= (src != NULL ? (uint32_t)(uint8_t)src[i] : pad) << sh;
            sh += 8;
            if (sh == 32) {
                EP_STEM_WIDEN((int32_t)acc, off2, left);
                left += 8;
                acc = 0;
                sh = 0;
            }
        }
    }
    if (sh > 0) {
        acc |= (pad * 0x01010101u) << sh;
        EP_STEM_WIDEN((int32_t)acc, off2, left);
    }
}

/* What ep_stem_pairs needs for one block of four pixels; filled once per layer. */
typedef struct {
    const int32_t *patch;               /* words x 4 pixels */
    const int32_t *table;               /* p->stem_weights */
    int32_t pairs, skip, clamp_lo, clamp_hi;
    uint32_t lo4, hi4;
} ep_stem_pass;

/* one word of the patch: pixels 2 and 3, then 0 and 1 (post-incremented), both filters */
#define EP_STEM_STEP                                     \
    "ldrd   %[wa], %[wb], [%[wp]], #8\n\t"               \
    "ldrd   %[p0], %[p1], [%[xw], #8]\n\t"               \
    "smlad  %[a02], %[wa], %[p0], %[a02]\n\t"            \
    "smlad  %[a03], %[wa], %[p1], %[a03]\n\t"            \
    "smlad  %[a12], %[wb], %[p0], %[a12]\n\t"            \
    "smlad  %[a13], %[wb], %[p1], %[a13]\n\t"            \
    "ldrd   %[p0], %[p1], [%[xw]], #16\n\t"              \
    "smlad  %[a00], %[wa], %[p0], %[a00]\n\t"            \
    "smlad  %[a01], %[wa], %[p1], %[a01]\n\t"            \
    "smlad  %[a10], %[wb], %[p0], %[a10]\n\t"            \
    "smlad  %[a11], %[wb], %[p1], %[a11]\n\t"
#define EP_STEM_STEP4 EP_STEM_STEP EP_STEM_STEP EP_STEM_STEP EP_STEM_STEP
#define EP_STEM_STEP32 EP_STEM_STEP4 EP_STEM_STEP4 EP_STEM_STEP4 EP_STEM_STEP4 \
                       EP_STEM_STEP4 EP_STEM_STEP4 EP_STEM_STEP4 EP_STEM_STEP4

/* ep_dsp_rq of one doubled accumulator in four instructions, its result over the accumulator:
 * (SMMLAR(acc2, mult, k) - [acc2 < 0]) >> r saturated to int8, k = 2^(r-1) + out_offset * 2^r
 * (why that is the same number: firmware_gen/stem.py); mult, r, k in wa, wb, p1 */
#define EP_STEM_RQ(A)                                    \
    "smmlar %[p0], %[" A "], %[wa], %[p1]\n\t"           \
    "add    %[p0], %[p0], %[" A "], asr #31\n\t"         \
    "asr    %[p0], %[p0], %[wb]\n\t"                     \
    "ssat   %[" A "], #8, %[p0]\n\t"
#define EP_STEM_LOAD_RQ                                  \
    "ldr    %[wa], [%[wp]], #4\n\t"                      \
    "ldr    %[wb], [%[wp]], #4\n\t"                      \
    "ldr    %[p1], [%[wp]], #4\n\t"

/* Every pair of output channels of one block of four pixels (o[0..3]; a short last block repeats
 * its last pixel, stored again with the same bytes). Per pair the table holds both doubled
 * biases, the filter words, then per channel the multiplier, right shift and rounding offset, read
 * in that order. Not inlined: the assembly needs all 14 registers, the rest of the pass lives in
 * stack slots around it. */
__attribute__((noinline)) static void ep_stem_pairs(const ep_stem_pass *cx, int8_t *const *o)
{
    const int32_t skip = cx->skip;
    const int32_t *wp = cx->table;
    int32_t c;
    for (c = 0; c < 2 * cx->pairs; c += 2) {
        int32_t a00, a01, a02, a03, a10, a11, a12, a13;
        const int32_t *xw = cx->patch;
        int32_t wa, wb, p0, p1;
        uint32_t y01, y23;
        uint16_t h;
        /* enter the unrolled loop at its first word (skip bytes in: a 16-bit ADD PC branches, bit 0
         * ignored); p0 may share a register with skip, it is written only after the branch */
        __asm__ volatile("ldrd   %[a00], %[a10], [%[wp]], #8\n\t"
                         "mov    %[a01], %[a00]\n\t"
                         "mov    %[a02], %[a00]\n\t"
                         "mov    %[a03], %[a00]\n\t"
                         "mov    %[a11], %[a10]\n\t"
                         "mov    %[a12], %[a10]\n\t"
                         "mov    %[a13], %[a10]\n\t"
                         "add    pc, %[skip]\n\t"       /* pc reads as this + 4: the step after the nop */
                         "nop\n\t"
                         EP_STEM_STEP32
                         /* both channels' requantization, then pixels 0, 1 and 2, 3 packed as
                          * {px0 c0, px0 c1, px1 c0, px1 c1} into a00 and a02 */
                         EP_STEM_LOAD_RQ EP_STEM_RQ("a00") EP_STEM_RQ("a01") EP_STEM_RQ("a02") EP_STEM_RQ("a03")
                         EP_STEM_LOAD_RQ EP_STEM_RQ("a10") EP_STEM_RQ("a11") EP_STEM_RQ("a12") EP_STEM_RQ("a13")
                         "bfi    %[a00], %[a10], #8, #8\n\t"
                         "bfi    %[a00], %[a01], #16, #8\n\t"
                         "bfi    %[a00], %[a11], #24, #8\n\t"
                         "bfi    %[a02], %[a12], #8, #8\n\t"
                         "bfi    %[a02], %[a03], #16, #8\n\t"
                         "bfi    %[a02], %[a13], #24, #8\n\t"
                         : [a00] "=&r"(a00), [a01] "=&r"(a01), [a02] "=&r"(a02), [a03] "=&r"(a03),
                           [a10] "=&r"(a10), [a11] "=&r"(a11), [a12] "=&r"(a12), [a13] "=&r"(a13),
                           [wp] "+r"(wp), [xw] "+r"(xw), [wa] "=&r"(wa), [wb] "=&r"(wb), [p0] "=r"(p0),
                           [p1] "=&r"(p1)
                         : [skip] "r"(skip)
                         : "memory");
        y01 = (uint32_t)a00;
        y23 = (uint32_t)a02;
        if (cx->clamp_lo) {
            y01 = ep_max_s8x4(y01, cx->lo4);
            y23 = ep_max_s8x4(y23, cx->lo4);
        }
        if (cx->clamp_hi) {
            y01 = ep_min_s8x4(y01, cx->hi4);
            y23 = ep_min_s8x4(y23, cx->hi4);
        }
        h = (uint16_t)(y23 >> 16);
        memcpy(o[3] + c, &h, 2);
        h = (uint16_t)y23;
        memcpy(o[2] + c, &h, 2);
        h = (uint16_t)(y01 >> 16);
        memcpy(o[1] + c, &h, 2);
        h = (uint16_t)y01;
        memcpy(o[0] + c, &h, 2);
    }
}

/* Blocks of four output pixels in order (n, y, x): their patches, then every pair of filters. */
__attribute__((noinline)) static void ep_stem_run(const ep_conv_params *p, const int8_t *in, int8_t *out,
                                                  int32_t *patch, int32_t words)
{
    const int32_t out_c = p->out.c, out_h = p->out.h, out_w = p->out.w, npix = p->out.n * out_h * out_w;
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c, kh = p->kh, kw = p->kw;
    const int32_t x_row = in_w * in_c * p->dil_h, off2 = ep_offset_x2(p->in_offset);
    const uint32_t pad = (uint8_t)-p->in_offset;
    const int rows_3x9 = kh == 3 && kw * in_c == 9, rows_3x3 = kh == 3 && kw * in_c == 3;
    const uint32_t pad8 = pad * 0x01010100u;
    ep_stem_pass pass;
    int32_t pix, px, j, b = 0, oy = 0, ox = 0;
    int8_t *o[4];
    pass.patch = patch;
    pass.table = p->stem_weights;
    pass.pairs = out_c / 2;
    pass.skip = (EP_STEM_MAX_WORDS - ep_stem_steps(kh, kw * in_c)) * EP_STEM_STEP_BYTES;
    pass.clamp_lo = p->act_min > -128;
    pass.clamp_hi = p->act_max < 127;
    pass.lo4 = ep_bytes4(p->act_min);
    pass.hi4 = ep_bytes4(p->act_max);
    for (pix = 0; pix < npix; pix += 4) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
        if (ox + 4 <= out_w && iy0 >= 0 && iy0 + p->dil_h * (kh - 1) < in_h && ix0 >= 0 &&
            ix0 + 3 * p->stride_w + kw <= in_w) {
            /* four windows of one output row, all inside the image: no per-pixel checks */
            const int8_t *src = in + ((size_t)(b * in_h + iy0) * in_w + ix0) * in_c;
            const int32_t step = p->stride_w * in_c;
            for (px = 0; px < 4; ++px, src += step) {
                if (rows_3x9) {
                    ep_stem_rows_3x9(src, x_row, off2, pad << 24, patch + px);
                } else if (rows_3x3) {
                    ep_stem_rows_3x3(src, x_row, off2, pad8, patch + px);
                } else {
                    ep_stem_rows(src, x_row, kh, kw * in_c, off2, pad, patch + px);
                }
                o[px] = out + (size_t)(pix + px) * out_c;
            }
            ox += 4;
            if (ox == out_w) {
                ox = 0;
                if (++oy == out_h) {
                    oy = 0;
                    ++b;
                }
            }
            ep_stem_pairs(&pass, o);
            continue;
        }
        for (px = 0; px < 4; ++px) {
            if (pix + px < npix) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
                if (iy0 >= 0 && iy0 + p->dil_h * (kh - 1) < in_h && ix0 >= 0 && ix0 + kw <= in_w) {
                    const int8_t *src = in + ((size_t)(b * in_h + iy0) * in_w + ix0) * in_c;
                    if (rows_3x9) {
                        ep_stem_rows_3x9(src, x_row, off2, pad << 24, patch + px);
                    } else if (rows_3x3) {
                        ep_stem_rows_3x3(src, x_row, off2, pad8, patch + px);
                    } else {
                        ep_stem_rows(src, x_row, kh, kw * in_c, off2, pad, patch + px);
                    }
                } else if (rows_3x3) {
                    ep_stem_border_3x3(p, in, b, iy0, ix0, patch + px);
                } else {
                    ep_stem_border(p, in, b, iy0, ix0, patch + px);
                }
                o[px] = out + (size_t)(pix + px) * out_c;
                if (++ox == out_w) {
                    ox = 0;
                    if (++oy == out_h) {
                        oy = 0;
                        ++b;
                    }
                }
            } else {
                /* a short last block repeats its last pixel */
                for (j = 0; j < words; ++j) {
                    patch[4 * j + px] = patch[4 * j + px - 1];
                }
                o[px] = o[px - 1];
            }
        }
        ep_stem_pairs(&pass, o);
    }
}

/* The stem path when the layer has its widened filters and fits the kernel; 0: not taken. */
__attribute__((noinline)) static int ep_conv_stem_dsp(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t run = p->kw * p->in.c, words = ep_stem_words(p->kh, run);
    if (p->filter_in_c != p->in.c || p->dil_w != 1 || p->out.c % 2 != 0 || words > EP_STEM_MAX_WORDS ||
        !ep_dsp_rq_ok(p->bias, p->shift, p->out.c, p->kh * run)) {
        return 0;
    }
    {
        int32_t patch[words * 4];       /* sized by the layer */
        ep_stem_run(p, in, out, patch, words);
    }
    return 1;
}
#endif

#if EP_KERNELS_MVE
/* CONV_2D 3x3 over one input channel (patches of 9 bytes, e.g. the first layer of an image CNN) on
 * Helium: per output pixel the 9 input bytes as scalars, the filters four per vector as int32
 * lanes (each tap's four weights one gather load, VLDRB.S32 at offsets 0, 9, 18, 27 of the OHWI
 * filters) and VMLA by the scalar, then ep_requant4_full. The accumulators start from kernel_sums
 * (bias + in_offset * sum of the weights); a padding tap reads -in_offset, so it adds nothing, as
 * the reference skips it. */
__attribute__((noinline)) static void ep_conv3x3c1_mve(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, pad_h = p->pad_h, pad_w = p->pad_w;
    const int32_t pad_value = -p->in_offset, out_offset = p->out_offset;
    const int32_t act_min = p->act_min, act_max = p->act_max;
    const int8_t *const w = p->weights;
    const int32_t *const ks = p->kernel_sums, *const mult = p->mult, *const shift = p->shift;
    const uint32x4_t taps9 = vmulq_n_u32(vidupq_n_u32(0, 1), 9);
    int32_t b, oy, ox, g, t;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - pad_h;
            const int rows_in = iy0 >= 0 && iy0 + 3 <= in_h;
            int8_t *o = out + (size_t)(b * out_h + oy) * out_w * out_c;
            for (ox = 0; ox < out_w; ++ox, o += out_c) {
                const int32_t ix0 = ox * stride_w - pad_w;
                int32_t x[9];
                if (rows_in && ix0 >= 0 && ix0 + 3 <= in_w) {
                    const int8_t *s = in + (size_t)(b * in_h + iy0) * in_w + ix0;
                    x[0] = s[0];
                    x[1] = s[1];
                    x[2] = s[2];
                    s += in_w;
                    x[3] = s[0];
                    x[4] = s[1];
                    x[5] = s[2];
                    s += in_w;
                    x[6] = s[0];
                    x[7] = s[1];
                    x[8] = s[2];
                } else {
                    for (t = 0; t < 9; ++t) {
                        const int32_t iy = iy0 + t / 3, ix = ix0 + t % 3;
                        x[t] = iy >= 0 && iy < in_h && ix >= 0 && ix < in_w ? in[(size_t)(b * in_h + iy) * in_w + ix]
                                                                              : pad_value;
                    }
                }
                for (g = 0; g < out_c; g += 4) {
                    const int8_t *wg = w + (size_t)g * 9;
                    int32x4_t acc = vldrwq_s32(ks + g);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg, taps9), x[0]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 1, taps9), x[1]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 2, taps9), x[2]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 3, taps9), x[3]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 4, taps9), x[4]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 5, taps9), x[5]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 6, taps9), x[6]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 7, taps9), x[7]);
                    acc = vmlaq_n_s32(acc, vldrbq_gather_offset_s32(wg + 8, taps9), x[8]);
                    ep_requant4_full(acc, mult + g, shift + g, out_offset, act_min, act_max, o + g);
                }
            }
        }
    }
}

static int ep_conv3x3c1_mve_ok(const ep_conv_params *p)
{
    return p->in.c == 1 && p->filter_in_c == 1 && p->kh == 3 && p->kw == 3 && p->dil_h == 1 && p->dil_w == 1 &&
           p->out.c % 4 == 0 && p->kernel_sums != NULL;
}
#endif

/* Each path is its own function (none inlined here), so the stack holds only the frame of the one
 * a layer takes. */
void ep_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
#if EP_KERNELS_MVE
    if (ep_conv3x3c1_mve_ok(p)) {
        ep_conv3x3c1_mve(p, in, out);
        return;
    }
#endif
#if EP_KERNELS_DSP
    if (p->stem_weights != NULL && ep_conv_stem_dsp(p, in, out)) {
        return;
    }
#endif
#if EP_KERNELS_DSP || EP_KERNELS_MVE
    const int32_t in_h = p->in.h, in_w = p->in.w, in_c = p->in.c;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, fic = p->filter_in_c;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w;
#if EP_KERNELS_MVE
    /* channels outer (in_c <= 16): every input pixel is read again after outputs were written, so
     * the output must not overlap the input (the planner may let it trail the input rows, see
     * codegen.LAG_OPS) */
    if (fic == in_c && kh == 1 && kw == 1 && stride_h == 1 && stride_w == 1 && p->pad_h == 0 && p->pad_w == 0 &&
        p->kernel_sums != NULL && in_c <= 16 &&
        ((uintptr_t)(out + (size_t)p->out.n * out_h * out_w * out_c) <= (uintptr_t)in ||
         (uintptr_t)(in + (size_t)p->in.n * in_h * in_w * in_c) <= (uintptr_t)out)) {
        ep_conv1x1_mve(p, in, out);
        return;
    }
#endif
#if EP_KERNELS_DSP
    if (ep_conv2d_dsp16_ok(p)) {
        ep_conv2d_dsp16(p, in, out);
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

#if EP_KERNELS_DSP || EP_KERNELS_MVE
/* The planner may place a row-order kernel's output over the rest of its dying input (codegen's
 * LAG_OPS: output row y only overwrites input rows no later output row reads). The channel-major
 * DSP kernels below and the Helium plane kernel (ep_dw3x3_vm) write all rows of a few channels
 * before the next ones, so they check the placement: 0 when the two buffers are apart, 1 when
 * the output starts a multiple of c_n bytes
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
/* Helium 3x3 depthwise with channels in the lanes (in_c % 8 == 0; small maps, where the plane
 * kernel below pays its per-channel setup for few outputs): depth multiplier 1, undilated, any
 * stride and padding, eight channels per
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

/* most channels of ep_dw3x3_ch (validation lets in_c reach 2^31 bytes; wider layers take the
 * plane, whose stack is bounded) */
#define EP_DW3X3_PAD_MAX 1024

/* the pad row sized by the layer: in_c bytes of stack */
__attribute__((noinline)) static void ep_dw3x3_ch(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    int8_t pad[p->in.c];
    memset(pad, (int8_t)-p->in_offset, (size_t)p->in.c);
    ep_dw3x3_run(p, in, out, pad);
}

/* Helium 3x3 depthwise, depth multiplier 1, undilated, any stride, padding and channel count.
 * One channel at a time is copied into a plane (a chunk of rows of it, with the padding around
 * it holding the zero point), so that an output's nine taps are nine bytes at fixed offsets:
 * one 16-lane byte gather (lanes 9..15 read offset 0 against zero weights) and one VMLADAV.S8
 * against the channel's nine weights give its sum, 9 MACs per two instructions. Four outputs
 * along a plane row are requantized as one vector (the channel's multiplier and shift are
 * scalars) and stored with one scatter. The plane runs along whichever output dimension wastes
 * fewer lanes (KWS's 25x5 maps: along the 25); it is filled four inputs at a time by a gather
 * across the NHWC layout. Padding taps read the zero point, which cancels their share of
 * kernel_sums (bias + in_offset * sum of weights) as skipping them does in the reference. */
#define EP_DWV_PLANE 640        /* most plane bytes (stack) */

typedef struct {
    int32_t u_n, v_n;                   /* output extent: rows of the plane, outputs along a row */
    int32_t s_u, s_v, pad_u, pad_v;     /* strides and leading padding along u and v */
    int32_t in_u, in_v;                 /* input extent along u and v */
    int32_t iu_step, iv_step;           /* input byte stride along u and v (NHWC) */
    int32_t ou_step, ov_step;           /* output byte stride along u and v */
    int32_t vp, chunk;                  /* plane row length; output rows per plane chunk */
    int32_t bytes;                      /* plane bytes: vp * ((chunk - 1) * s_u + 3) */
} ep_dwv_geo;

/* plane rows [0, rows) from input rows u0 + i, all inside the image, gathered eight bytes at a
 * time (a short row: four, or one by one); a row's last group overlaps the one before, so no lane
 * is predicated; columns outside the image keep the zero point */
static void ep_dwv_fill(const ep_dwv_geo *g, const int8_t *src, int32_t rows, int8_t *plane)
{
    const int32_t vp = g->vp, iu_step = g->iu_step, iv = g->iv_step, in_v = g->in_v;
    const uint16x8_t off8 = vmulq_n_u16(vidupq_n_u16(0, 1), (uint16_t)iv);
    const uint32x4_t off4 = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)iv);
    int32_t i, k;
    for (i = 0; i < rows; ++i, plane += vp, src += iu_step) {
        int8_t *const d = plane + g->pad_v;
        if (in_v >= 8) {
            for (k = 0; k + 8 <= in_v; k += 8) {
                vstrbq_s16(d + k, vldrbq_gather_offset_s16(src + (size_t)k * iv, off8));
            }
            if (k < in_v) {
                vstrbq_s16(d + in_v - 8, vldrbq_gather_offset_s16(src + (size_t)(in_v - 8) * iv, off8));
            }
        } else if (in_v >= 4) {
            vstrbq_s32(d, vldrbq_gather_offset_s32(src, off4));
            vstrbq_s32(d + in_v - 4, vldrbq_gather_offset_s32(src + (size_t)(in_v - 4) * iv, off4));
        } else {
            for (k = 0; k < in_v; ++k) {
                d[k] = src[(size_t)k * iv];
            }
        }
    }
}

/* one requantized group of four outputs (ep_mbqm per lane with the channel's scalars) */
static inline __attribute__((always_inline)) void ep_dwv_store(int32x4_t a, int32_t m, int32_t left, int32_t right,
                                                              int32_t out_offset, int32x4_t lo, int32x4_t hi, int8_t *o,
                                                              uint32x4_t offo, int general)
{
    if (general) {
        a = vshlq_r_s32(a, left);
        a = vqrdmulhq_n_s32(a, m);
        if (right > 0) {
            a = vqaddq_s32(a, vshrq_n_s32(a, 31));
            a = vrshlq_n_s32(a, -right);
        }
    } else {
        a = vqrdmulhq_n_s32(a, m);
        a = vqaddq_s32(a, vshrq_n_s32(a, 31));
        a = vrshlq_n_s32(a, -right);
    }
    a = vaddq_n_s32(a, out_offset);
    a = vminq_s32(vmaxq_s32(a, lo), hi);
    vstrbq_scatter_offset_s32(o, offo, a);
}

/* four outputs' sums: windows at x, x + sv (off1), x + 2 sv, x + 3 sv, plus the kernel sum */
static inline __attribute__((always_inline)) int32x4_t ep_dwv_sum4(const int8_t *x, int32_t sv, int8x16_t wv,
                                                                   uint8x16_t off0, uint8x16_t off1, int32_t ks)
{
    const int8_t *const x2 = x + 2 * sv;
    int32x4_t a = vdupq_n_s32(vmladavq_s8(vldrbq_gather_offset_s8(x, off0), wv));
    a = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(x, off1), wv), a, 1);
    a = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(x2, off0), wv), a, 2);
    a = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(x2, off1), wv), a, 3);
    return vaddq_n_s32(a, ks);
}

/* the outputs of one plane chunk for one channel: rows of v_n outputs, four per group. A row that
 * is not a multiple of four ends with a group that overlaps the one before (those outputs are
 * stored twice, the same bytes); a row of fewer than four repeats its last output in the spare
 * lanes (the same window, stored to the same byte). No lane is predicated. */
static inline __attribute__((always_inline)) void ep_dwv_rows(const ep_dwv_geo *g, const int8_t *plane, int32_t rows,
                                                             int8x16_t wv, uint8x16_t off0, int32_t ks, int32_t m,
                                                             int32_t left, int32_t right, int32_t out_offset,
                                                             int32x4_t lo, int32x4_t hi, int8_t *o, uint32x4_t offo,
                                                             int general)
{
    const int32_t sv = g->s_v, v_n = g->v_n, groups = v_n / 4, tail = v_n % 4;
    const int32_t x_step = 4 * sv, o_step = 4 * g->ov_step, x_row = g->s_u * g->vp, o_row = g->ou_step;
    const uint8x16_t off1 = vaddq_n_u8(off0, (uint8_t)sv);
    int32_t i, k;
    if (groups == 0) {
        /* lanes k >= v_n take window v_n - 1 */
        const int32_t k1 = v_n > 1 ? 1 : 0, k2 = v_n > 2 ? 2 : v_n - 1;
        const uint32_t ov = (uint32_t)g->ov_step;
        uint32x4_t offs = vdupq_n_u32(0);
        offs = vsetq_lane_u32((uint32_t)k1 * ov, offs, 1);
        offs = vsetq_lane_u32((uint32_t)k2 * ov, offs, 2);
        offs = vsetq_lane_u32((uint32_t)k2 * ov, offs, 3);
        for (i = 0; i < rows; ++i, plane += x_row, o += o_row) {
            const int8_t *const x1 = plane + k1 * sv, *const x2 = plane + k2 * sv;
            int32x4_t a = vdupq_n_s32(vmladavq_s8(vldrbq_gather_offset_s8(plane, off0), wv));
            a = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(x1, off0), wv), a, 1);
            a = vsetq_lane_s32(vmladavq_s8(vldrbq_gather_offset_s8(x2, off0), wv), a, 2);
            a = vsetq_lane_s32(vgetq_lane_s32(a, 2), a, 3);
            ep_dwv_store(vaddq_n_s32(a, ks), m, left, right, out_offset, lo, hi, o, offs, general);
        }
        return;
    }
    for (i = 0; i < rows; ++i, plane += x_row, o += o_row) {
        const int8_t *x = plane;
        int8_t *oo = o;
        for (k = 0; k < groups; ++k, x += x_step, oo += o_step) {
            ep_dwv_store(ep_dwv_sum4(x, sv, wv, off0, off1, ks), m, left, right, out_offset, lo, hi, oo, offo, general);
        }
        if (tail > 0) {
            ep_dwv_store(ep_dwv_sum4(x + (tail - 4) * sv, sv, wv, off0, off1, ks), m, left, right, out_offset, lo, hi,
                         oo + (tail - 4) * g->ov_step, offo, general);
        }
    }
}

__attribute__((noinline)) static void ep_dw3x3_vm(const ep_conv_params *p, const ep_dwv_geo *g, const int8_t *in,
                                                  int8_t *out, int8_t *plane, int transposed)
{
    const int32_t c_n = p->in.c, out_offset = p->out_offset;
    const int8_t zp = (int8_t)-p->in_offset;
    const int32x4_t lo = vdupq_n_s32(p->act_min), hi = vdupq_n_s32(p->act_max);
    const uint32x4_t offo = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)g->ov_step);
    const uint8x16_t lane = vidupq_n_u8(0, 1);
    const mve_pred16_t taps = 0x01FFu;
    const uint32x4_t offt = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)c_n);
    uint8x16_t off0;
    uint8_t tap_off[16];
    int8_t tap_w[16];
    int32_t b, u0, c, t;

    /* tap (ky, kx) is plane offset du * vp + dv, (du, dv) = (ky, kx), or (kx, ky) when the plane
     * runs along the output's height; lanes 9..15 read offset 0 */
    for (t = 0; t < 16; ++t) {
        const int32_t ky = t / 3, kx = t % 3;
        tap_off[t] = (uint8_t)(t < 9 ? (transposed ? kx * g->vp + ky : ky * g->vp + kx) : 0);
    }
    off0 = vpselq_u8(vld1q_u8(tap_off), vdupq_n_u8(0), taps);
    (void)lane;
    for (t = 9; t < 16; ++t) {
        tap_w[t] = 0;
    }
    memset(plane, zp, (size_t)g->bytes);
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *const img = in + (size_t)b * p->in.h * p->in.w * c_n;
        int8_t *const oimg = out + (size_t)b * p->out.h * p->out.w * c_n;
        for (u0 = 0; u0 < g->u_n; u0 += g->chunk) {
            const int32_t rows = g->u_n - u0 < g->chunk ? g->u_n - u0 : g->chunk;
            const int32_t prow = (rows - 1) * g->s_u + 3, u_first = u0 * g->s_u - g->pad_u;
            /* plane rows inside the image: [i_lo, i_hi); the others hold the zero point for
             * every channel of this chunk */
            const int32_t i_lo = u_first < 0 ? -u_first : 0;
            const int32_t i_hi = g->in_u - u_first < prow ? g->in_u - u_first : prow;
            for (t = 0; t < prow; ++t) {
                if (t < i_lo || t >= i_hi) {
                    memset(plane + (size_t)t * g->vp, zp, (size_t)g->vp);
                }
            }
            for (c = 0; c < c_n; ++c) {
                const int32_t sh = p->shift[c], left = sh > 0 ? sh : 0, right = sh > 0 ? 0 : -sh;
                const int8_t *const wc = p->weights + c;
                int8x16_t wv;
                /* the nine weights w[t * c_n + c] into bytes 0..8 */
                vstrbq_s32((int8_t *)tap_w, vldrbq_gather_offset_s32(wc, offt));
                vstrbq_s32((int8_t *)tap_w + 4, vldrbq_gather_offset_s32(wc + 4 * c_n, offt));
                tap_w[8] = wc[8 * c_n];
                wv = vld1q_s8(tap_w);
                if (i_hi > i_lo) {
                    ep_dwv_fill(g, img + c + (size_t)(u_first + i_lo) * g->iu_step, i_hi - i_lo,
                                plane + (size_t)i_lo * g->vp);
                }
                if (left == 0 && right > 0) {
                    ep_dwv_rows(g, plane, rows, wv, off0, p->kernel_sums[c], p->mult[c], left, right, out_offset, lo,
                                hi, oimg + (size_t)u0 * g->ou_step + c, offo, 0);
                } else {
                    ep_dwv_rows(g, plane, rows, wv, off0, p->kernel_sums[c], p->mult[c], left, right, out_offset, lo,
                                hi, oimg + (size_t)u0 * g->ou_step + c, offo, 1);
                }
            }
        }
    }
}

/* four channels' sums over the window's row pairs, every tap inside the image (offw[j]: the
 * weight offsets of channel j, one gather base for the four) */
static inline __attribute__((always_inline)) int32x4_t ep_c1_sum4(const int8_t *x0, const int8_t *w, int32_t pairs,
                                                                    int32_t x_step, int32_t w_step, uint8x16_t offx,
                                                                    const uint8x16_t *offw)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, k;
    int32x4_t v;
    for (k = 0; k < pairs; ++k, x0 += x_step, w += w_step) {
        const int8x16_t x = vldrbq_gather_offset_s8(x0, offx);
        a0 = vmladavaq_s8(a0, x, vldrbq_gather_offset_s8(w, offw[0]));
        a1 = vmladavaq_s8(a1, x, vldrbq_gather_offset_s8(w, offw[1]));
        a2 = vmladavaq_s8(a2, x, vldrbq_gather_offset_s8(w, offw[2]));
        a3 = vmladavaq_s8(a3, x, vldrbq_gather_offset_s8(w, offw[3]));
    }
    v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
}

/* the same with lanes predicated per row pair (pv[k]: taps inside the image); a lane outside
 * reads pad (the zero point inside the filter, 0 beyond its width); weight lanes beyond the
 * filter width read channel j's first weight (an in-bounds read met by x = 0) */
static inline __attribute__((always_inline)) int32x4_t ep_c1_sum4_pad(const int8_t *x0, const int8_t *w,
                                                                        int32_t pairs, int32_t x_step, int32_t w_step,
                                                                        uint8x16_t offx, const uint8x16_t *offw,
                                                                        int8x16_t pad, const uint16_t *pv)
{
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, k;
    int32x4_t v;
    for (k = 0; k < pairs; ++k, x0 += x_step, w += w_step) {
        const mve_pred16_t pk = pv[k];
        const int8x16_t x = vpselq_s8(vldrbq_gather_offset_z_s8(x0, offx, pk), pad, pk);
        a0 = vmladavaq_s8(a0, x, vldrbq_gather_offset_s8(w, offw[0]));
        a1 = vmladavaq_s8(a1, x, vldrbq_gather_offset_s8(w, offw[1]));
        a2 = vmladavaq_s8(a2, x, vldrbq_gather_offset_s8(w, offw[2]));
        a3 = vmladavaq_s8(a3, x, vldrbq_gather_offset_s8(w, offw[3]));
    }
    v = vdupq_n_s32(a0);
    v = vsetq_lane_s32(a1, v, 1);
    v = vsetq_lane_s32(a2, v, 2);
    return vsetq_lane_s32(a3, v, 3);
}

/* Helium depthwise for one input channel and a depth multiplier of 4k (micro_speech's 10x8
 * stride-2 filter with 8 channels), filter width <= 8, even height, any stride and padding. The
 * reduction runs over the taps instead of across channels: one 16-lane byte gather takes two
 * window rows of eight input bytes (offsets 0..7 and in_w..in_w+7), one 16-lane gather takes the
 * same two rows of one channel's weights (offsets (ky * kw + kx) * out_c + j), and VMLADAVA.S8
 * adds their 16 products to that channel's sum: 16 MACs per two instructions, four channels per
 * pass, starting from 0 and adding kernel_sums (the input offset folded out) before
 * requantization. Lanes of a window row outside the image read the zero point (gathered lanes are
 * predicated off and VPSEL puts -in_offset there), which cancels their share of kernel_sums
 * exactly as in ep_dw3x3; lanes beyond the filter width read 0 against any weight. */
__attribute__((noinline)) static void ep_dw_c1_mve(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, out_h = p->out.h, out_w = p->out.w, c_n = p->out.c;
    const int32_t kh = p->kh, kw = p->kw, pairs = kh / 2;
    const int32_t x_step = 2 * in_w, w_step = 2 * kw * c_n;
    const int32_t out_offset = p->out_offset, act_min = p->act_min, act_max = p->act_max;
    const int32_t *const init = p->kernel_sums, *const mult = p->mult, *const shift = p->shift;
    const uint32_t kw_bits = (1u << kw) - 1u;
    const mve_pred16_t in_win = (mve_pred16_t)(kw_bits | kw_bits << 8);
    const uint8x16_t lane = vidupq_n_u8(0, 1), kx = vandq_u8(lane, vdupq_n_u8(7));
    const uint8x16_t offx = vaddq_m_n_u8(lane, lane, (uint8_t)(in_w - 8), 0xFF00u);
    /* (ky_in_pair * kw + kx) * c_n inside the filter, 0 beyond its width; + j for channel j */
    const uint8x16_t offw =
        vpselq_u8(vmulq_n_u8(vaddq_m_n_u8(kx, kx, (uint8_t)kw, 0xFF00u), (uint8_t)c_n), vdupq_n_u8(0), in_win);
    const int8x16_t pad = vpselq_s8(vdupq_n_s8((int8_t)-p->in_offset), vdupq_n_s8(0), in_win);
    uint8x16_t offw4[4];
    uint16_t pv[pairs];
    int32_t b, oy, ox, c, k;
    for (c = 0; c < 4; ++c) {
        offw4[c] = vaddq_n_u8(offw, (uint8_t)c);
    }
    for (b = 0; b < p->out.n; ++b) {
        const int8_t *const img = in + (size_t)b * in_h * in_w;
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            const int rows_in = iy0 >= 0 && iy0 + kh <= in_h;
            int8_t *o = out + (size_t)(b * out_h + oy) * out_w * c_n;
            for (k = 0; k < pairs; ++k) {
                const int32_t ra = iy0 + 2 * k;
                pv[k] = (uint16_t)((ra >= 0 && ra < in_h ? 0xFFu : 0u) | (ra + 1 >= 0 && ra + 1 < in_h ? 0xFF00u : 0u));
            }
            for (ox = 0; ox < out_w; ++ox, o += c_n) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                /* the window's first tap, as an address (lanes outside the image are never read) */
                const int8_t *const x0 = (const int8_t *)((uintptr_t)img + (uintptr_t)(iy0 * in_w + ix0));
                if (kw == 8 && rows_in && ix0 >= 0 && ix0 + kw <= in_w) {
                    for (c = 0; c < c_n; c += 4) {
                        /* micro_speech's 10-row filter: the five pairs unrolled */
                        const int32x4_t v = pairs == 5 ? ep_c1_sum4(x0, p->weights + c, 5, x_step, w_step, offx, offw4)
                                                       : ep_c1_sum4(x0, p->weights + c, pairs, x_step, w_step, offx, offw4);
                        ep_requant4_full(vaddq_s32(v, vldrwq_s32(init + c)), mult + c, shift + c, out_offset,
                                         act_min, act_max, o + c);
                    }
                } else {
                    uint16_t pvx[pairs];
                    uint32_t cols = kw_bits;
                    if (ix0 < 0) {
                        cols &= ~0u << (uint32_t)(-ix0 < 8 ? -ix0 : 8);
                    }
                    if (ix0 + kw > in_w) {
                        cols &= in_w - ix0 > 0 ? (1u << (uint32_t)(in_w - ix0)) - 1u : 0u;
                    }
                    for (k = 0; k < pairs; ++k) {
                        pvx[k] = (uint16_t)(pv[k] & (cols | cols << 8));
                    }
                    for (c = 0; c < c_n; c += 4) {
                        const int32x4_t v =
                            ep_c1_sum4_pad(x0, p->weights + c, pairs, x_step, w_step, offx, offw4, pad, pvx);
                        ep_requant4_full(vaddq_s32(v, vldrwq_s32(init + c)), mult + c, shift + c, out_offset,
                                         act_min, act_max, o + c);
                    }
                }
            }
        }
    }
}

/* The plane's geometry for a 3x3 layer along one output dimension; 0 when it does not fit (a
 * plane row longer than the byte gathers' 8-bit offsets reach: about 120 outputs at stride 1) */
static int ep_dwv_geometry(const ep_conv_params *p, int transposed, ep_dwv_geo *g)
{
    const int32_t c_n = p->in.c;
    g->u_n = transposed ? p->out.w : p->out.h;
    g->v_n = transposed ? p->out.h : p->out.w;
    g->s_u = transposed ? p->stride_w : p->stride_h;
    g->s_v = transposed ? p->stride_h : p->stride_w;
    g->pad_u = transposed ? p->pad_w : p->pad_h;
    g->pad_v = transposed ? p->pad_h : p->pad_w;
    g->in_u = transposed ? p->in.w : p->in.h;
    g->in_v = transposed ? p->in.h : p->in.w;
    g->iu_step = (transposed ? 1 : p->in.w) * c_n;
    g->iv_step = (transposed ? p->in.w : 1) * c_n;
    g->ou_step = (transposed ? 1 : p->out.w) * c_n;
    g->ov_step = (transposed ? p->out.w : 1) * c_n;
    /* the last group reads up to three windows past the row: room for them */
    g->vp = ((g->v_n + 3) / 4 * 4 - 1) * g->s_v + 3;
    if (g->vp < g->pad_v + g->in_v) {
        g->vp = g->pad_v + g->in_v;
    }
    if (2 * g->vp + 2 + 3 * g->s_v > 255 || g->s_u > 4 || 7 * g->iv_step > 65535) {
        return 0;
    }
    /* rows per chunk: the plane holds (chunk - 1) * s_u + 3 rows (vp <= 125 here, so at least one
     * output row fits) */
    g->chunk = ((EP_DWV_PLANE / g->vp) - 3) / g->s_u + 1;
    g->chunk = g->chunk < g->u_n ? g->chunk : g->u_n;
    g->bytes = g->vp * ((g->chunk - 1) * g->s_u + 3);
    return 1;
}

/* the plane sized by the layer: at most EP_DWV_PLANE bytes of stack */
__attribute__((noinline)) static void ep_dw3x3_planed(const ep_conv_params *p, const ep_dwv_geo *g, const int8_t *in,
                                                      int8_t *out, int transposed)
{
    int8_t plane[g->bytes];
    ep_dw3x3_vm(p, g, in, out, plane, transposed);
}

/* The plane kernel writes all of a channel's outputs in a chunk before it reads the next
 * channel's inputs. Over an output the planner placed on the rest of its dying input
 * (ep_out_skew), that is safe only when the output starts a multiple of c_n bytes below the input
 * (each channel overwrites its own consumed inputs) and the plane runs along the output's rows or
 * holds the whole map: a transposed plane in chunks writes a few output columns down to the last
 * row, over input rows the next chunk of columns still reads. */
static int ep_dwv_placement_ok(int skew, const ep_dwv_geo *g, int transposed)
{
    return skew == 0 || (skew == 1 && (!transposed || g->chunk >= g->u_n));
}

/* the plane along the output dimension with fewer groups of four (less waste in the last group
 * of each plane row), else the other one; 0 when neither fits or is safe where the output lies
 * (the SIMD path, row order, takes the layer; with in_c % 8 == 0 the lag, 16-aligned, is a
 * multiple of c_n, so the plane along the rows is always safe) */
__attribute__((noinline)) static int ep_dw3x3(const ep_conv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t by_rows = (p->out.w + 3) / 4 * p->out.h, by_cols = (p->out.h + 3) / 4 * p->out.w;
    const int first = by_cols < by_rows, skew = ep_out_skew(p, in, out);
    ep_dwv_geo g;
    /* under about 100 outputs per channel the plane's per-channel setup (weights, fill, rows)
     * costs more than channels in the lanes (MobileNet's 6x6 and 3x3 maps: 84,665 vs 101,830
     * instructions for 6x6x128) */
    if (p->in.c % 8 == 0 && p->in.c <= EP_DW3X3_PAD_MAX && p->out.h * p->out.w < 100) {
        ep_dw3x3_ch(p, in, out);
        return 1;
    }
    if (ep_dwv_geometry(p, first, &g) && ep_dwv_placement_ok(skew, &g, first)) {
        ep_dw3x3_planed(p, &g, in, out, first);
        return 1;
    }
    if (ep_dwv_geometry(p, !first, &g) && ep_dwv_placement_ok(skew, &g, !first)) {
        ep_dw3x3_planed(p, &g, in, out, !first);
        return 1;
    }
    return 0;
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
    /* kh <= 64: its row-pair masks are kh bytes of stack (validation allows filters of 2^15 rows) */
    if (undilated && p->in.c == 1 && dm % 4 == 0 && p->kh % 2 == 0 && p->kh <= 64 && p->kw <= 8 &&
        p->in.w <= 248 && (2 * p->kw - 1) * dm + 3 <= 255 && p->kernel_sums != NULL) {
        ep_dw_c1_mve(p, in, out);
        return;
    }
    if (undilated && dm == 1 && p->kh == 3 && p->kw == 3 && p->kernel_sums != NULL && ep_dw3x3(p, in, out)) {
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
