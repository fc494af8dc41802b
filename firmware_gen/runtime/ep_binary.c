/* Binarized ops with the integer semantics of Larq Compute Engine's reference kernels:
 * LceQuantize (ep_bitpack), LceBconv2d (ep_bconv2d), LceDequantize (ep_unpack).
 *
 * A binary multiply-accumulate of +-1 values is XOR + popcount on packed bits: 32 per word.
 * The host uses the compiler's popcount builtin; Cortex-M has no popcount instruction, so Arm builds
 * use a SWAR count over three words at a time (ep_xor_popcount; on Cortex-M4/M7 inlined with LDRD
 * loads and USADA8 sums, ep_bconv2d_col_dsp, and LceQuantize packs signs with SSUB8/SEL); Helium
 * (Cortex-M55) has no vector one either, so it counts SWAR in 128-bit vectors, four filters per
 * pass (ep_xor_popcount4).
 * Packed tensors live in the int8 arena; they are accessed through a may_alias word type, and the
 * generator places them at offsets that are multiples of 4. */
#include "ep_runtime.h"
#include "ep_simd.h"       /* EP_KERNELS_MVE (and arm_mve.h) on Cortex-M55 */

#include <stddef.h>
#include <string.h>

#if defined(__GNUC__)
typedef uint32_t __attribute__((may_alias)) ep_word;
#else
typedef uint32_t ep_word;
#endif

/* Largest window (kh * kw * in_words words) gathered into a contiguous patch on the stack. */
#define EP_BCOL_MAX 256

#if defined(__GNUC__) && !defined(__arm__) && !defined(__thumb__) && !defined(EP_POPCOUNT_SWAR)
#define EP_HOST_POPCOUNT 1
#else
#define EP_HOST_POPCOUNT 0
#endif


#if EP_HOST_POPCOUNT
/* sum over i < n of popcount(a[i] ^ b[i]) */
static inline int32_t ep_xor_popcount(const ep_word *a, const ep_word *b, int32_t n)
{
    int32_t i, s = 0;
    for (i = 0; i < n; ++i) {
        s += __builtin_popcount(a[i] ^ b[i]);
    }
    return s;
}
#else
/* sum over i < n of popcount(a[i] ^ b[i]), SWAR: three words at a time go through a carry-save
 * adder (ones, twos), whose 2-bit then 4-bit field counts are combined in nibbles (<= 12) and
 * added into byte lanes (<= 24 per group, folded every 10 groups before a lane can overflow).
 * Not inlined: the count runs in a fresh register set with the masks in registers (the empty asm
 * keeps gcc from turning them back into immediates), so Thumb-2's shifted operands fuse each
 * shift with its mask. */
#if defined(__GNUC__)
__attribute__((noinline))
#endif
static int32_t ep_xor_popcount(const ep_word *a, const ep_word *b, int32_t n)
{
    uint32_t m1 = 0x55555555u, m2 = 0x33333333u, m4 = 0x0F0F0F0Fu, bytes;
    int32_t total = 0;
#if defined(__GNUC__)
    __asm__("" : "+r"(m1), "+r"(m2), "+r"(m4));
#endif
    while (n >= 3) {
        const ep_word *const end = a + 3 * (n / 3 < 10 ? n / 3 : 10);
        n -= (int32_t)(end - a);
        bytes = 0;
        for (; a < end; a += 3, b += 3) {
            const uint32_t v0 = a[0] ^ b[0], v1 = a[1] ^ b[1], v2 = a[2] ^ b[2];
            uint32_t ones = v0 ^ v1 ^ v2, twos = (v0 & v1) | ((v0 ^ v1) & v2);
            ones -= (ones >> 1) & m1;
            twos -= (twos >> 1) & m1;
            ones = (ones & m2) + ((ones >> 2) & m2);
            twos = (twos & m2) + ((twos >> 2) & m2);
            ones += twos << 1;
            bytes += (ones & m4) + ((ones >> 4) & m4);
        }
        bytes = (bytes & 0x00FF00FFu) + ((bytes >> 8) & 0x00FF00FFu);
        total += (int32_t)((bytes + (bytes >> 16)) & 0xFFFFu);
    }
    bytes = 0;
    for (; n > 0; --n, ++a, ++b) {
        uint32_t v = *a ^ *b;
        v -= (v >> 1) & m1;
        v = (v & m2) + ((v >> 2) & m2);
        bytes += (v & m4) + ((v >> 4) & m4);
    }
    bytes = (bytes & 0x00FF00FFu) + ((bytes >> 8) & 0x00FF00FFu);
    return total + (int32_t)((bytes + (bytes >> 16)) & 0xFFFFu);
}
#endif

#if EP_KERNELS_MVE
/* Helium: four filters' XOR-popcounts against one patch, 4 words (128 bits) per vector; filter f
 * is the k words at w + f * k. Helium has no vector popcount, so each XORed vector is counted in
 * byte lanes: b - ((b >> 1) & 0x55) leaves four 2-bit field counts, b = f0 + 4 f1 + 16 f2 + 64 f3
 * (each <= 2), and b - 3 ((b >> 2) + (b >> 4) + (b >> 6)) = f0 + f1 + f2 + f3; the 16 lanes go
 * into the filter's int32 count as VADDVA(b) and three VMLADAVA(b >> 2i, -3) (b >> 2 <= 42 is
 * exact as int8): twelve instructions per filter per 128 bits, the load included. The last vector
 * is a predicated load whose inactive lanes read as zero on both sides (and touch no memory), so
 * they count nothing. */
#define EP_MVE_COUNT(xv, wv, m1, m3, acc)                                                       \
    do {                                                                                       \
        uint8x16_t b_ = vreinterpretq_u8_u32(veorq_u32((xv), (wv))), t_;                       \
        b_ = vsubq_u8(b_, vandq_u8(vshrq_n_u8(b_, 1), (m1)));                                  \
        (acc) = (int32_t)vaddvaq_u8((uint32_t)(acc), b_);                                      \
        t_ = vshrq_n_u8(b_, 2);                                                                \
        (acc) = vmladavaq_s8((acc), vreinterpretq_s8_u8(t_), (m3));                            \
        t_ = vshrq_n_u8(t_, 2);                                                                \
        (acc) = vmladavaq_s8((acc), vreinterpretq_s8_u8(t_), (m3));                            \
        t_ = vshrq_n_u8(t_, 2);                                                                \
        (acc) = vmladavaq_s8((acc), vreinterpretq_s8_u8(t_), (m3));                            \
    } while (0)

__attribute__((noinline))      /* a fresh register set: the four counts stay in core registers */
static void ep_xor_popcount4(const ep_word *x, const ep_word *w, int32_t k, int32_t *acc)
{
    const uint8x16_t m1 = vdupq_n_u8(0x55);
    const int8x16_t m3 = vdupq_n_s8(-3);
    const uint32_t *xs = (const uint32_t *)x, *w0 = (const uint32_t *)w;
    const int32_t k2 = 2 * k, k3 = 3 * k;
    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, n;
    for (n = k; n >= 4; n -= 4, xs += 4, w0 += 4) {
        const uint32x4_t xv = vldrwq_u32(xs);
        EP_MVE_COUNT(xv, vldrwq_u32(w0), m1, m3, a0);
        EP_MVE_COUNT(xv, vldrwq_u32(w0 + k), m1, m3, a1);
        EP_MVE_COUNT(xv, vldrwq_u32(w0 + k2), m1, m3, a2);
        EP_MVE_COUNT(xv, vldrwq_u32(w0 + k3), m1, m3, a3);
    }
    if (n > 0) {
        const mve_pred16_t p = vctp32q((uint32_t)n);
        const uint32x4_t xv = vldrwq_z_u32(xs, p);
        EP_MVE_COUNT(xv, vldrwq_z_u32(w0, p), m1, m3, a0);
        EP_MVE_COUNT(xv, vldrwq_z_u32(w0 + k, p), m1, m3, a1);
        EP_MVE_COUNT(xv, vldrwq_z_u32(w0 + k2, p), m1, m3, a2);
        EP_MVE_COUNT(xv, vldrwq_z_u32(w0 + k3, p), m1, m3, a3);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = a2;
    acc[3] = a3;
}

/* the counts of filters [0, n) (rows of k words from w) against the patch x, into acc[0..n) */
static void ep_xor_popcount_rows(const ep_word *x, const ep_word *w, int32_t k, int32_t n, int32_t *acc)
{
    int32_t f;
    for (f = 0; f + 4 <= n; f += 4) {
        ep_xor_popcount4(x, w + (size_t)f * k, k, acc + f);
    }
    for (; f < n; ++f) {
        acc[f] = ep_xor_popcount(x, w + (size_t)f * k, k);
    }
}
#endif

#if EP_KERNELS_DSP
/* Cortex-M4/M7 (DSP extension, no popcount instruction). */

/* acc + the sum of the four bytes of v (USADA8 against zero) */
static inline uint32_t ep_usada8(uint32_t v, uint32_t acc)
{
    uint32_t r;
    __asm__("usada8 %0, %1, %2, %3" : "=r"(r) : "r"(v), "r"(0u), "r"(acc));
    return r;
}

/* bit 8 j + i (i < 8) set where byte i % 4 of (i < 4 ? a : b) is below zp (four copies in zp4):
 * SSUB8 sets a GE flag per byte where x >= zp, SEL keeps the byte of `bitsN` (byte i holding bit
 * i, or bit 4 + i) where it is clear, and USAD8 adds the four bytes into one 8-bit value. */
static inline uint32_t ep_sign8(uint32_t a, uint32_t b, uint32_t zp4)
{
    uint32_t ra, rb, r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %3, %4"
            : "=&r"(ra) : "r"(a), "r"(zp4), "r"(0u), "r"(0x08040201u) : "cc");
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %3, %4"
            : "=&r"(rb) : "r"(b), "r"(zp4), "r"(0u), "r"(0x80402010u) : "cc");
    __asm__("usad8 %0, %1, %2" : "=r"(r) : "r"(ra | rb), "r"(0u));
    return r;
}

/* LceQuantize, 32 channels per word in 4 x 8 (full words; a partial last word bit by bit) */
static void ep_bitpack_dsp(const ep_bitpack_params *p, const int8_t *in, int8_t *out)
{
    const int32_t outer = p->outer, channels = p->channels, nwords = p->words, full = channels >> 5;
    const int32_t zp = p->zero_point;
    const uint32_t zp4 = ((uint32_t)zp & 0xFFu) * 0x01010101u;
    ep_word *o = (ep_word *)(void *)out;
    int32_t r, w, c;
    for (r = 0; r < outer; ++r, in += channels) {
        const int8_t *x = in;
        for (w = 0; w < full; ++w, x += 32) {
            uint32_t bits = ep_sign8((uint32_t)ep_read_s8x4(x), (uint32_t)ep_read_s8x4(x + 4), zp4);
            bits |= ep_sign8((uint32_t)ep_read_s8x4(x + 8), (uint32_t)ep_read_s8x4(x + 12), zp4) << 8;
            bits |= ep_sign8((uint32_t)ep_read_s8x4(x + 16), (uint32_t)ep_read_s8x4(x + 20), zp4) << 16;
            bits |= ep_sign8((uint32_t)ep_read_s8x4(x + 24), (uint32_t)ep_read_s8x4(x + 28), zp4) << 24;
            *o++ = bits;
        }
        if (w < nwords) {
            const int32_t c1 = channels - w * 32;
            uint32_t bits = 0;
            for (c = 0; c < c1; ++c) {
                bits |= (uint32_t)((int32_t)x[c] < zp) << c;
            }
            *o++ = bits;
        }
    }
}

#endif

void ep_bitpack(const ep_bitpack_params *p, const int8_t *in, int8_t *out)
{
    const int32_t outer = p->outer, channels = p->channels, nwords = p->words;
    const int32_t zp = p->zero_point;
    ep_word *o = (ep_word *)(void *)out;
    int32_t r, w, c;
#if EP_KERNELS_DSP
    if (zp >= -128 && zp <= 127) {
        ep_bitpack_dsp(p, in, out);
        return;
    }
#endif
#if EP_KERNELS_MVE
    /* a byte-lane compare sets one predicate bit per lane: 16 channels' bits at once */
    if (zp >= -128 && zp <= 127) {
        for (r = 0; r < outer; ++r, in += channels) {
            for (w = 0; w < nwords; ++w) {
                const int32_t c0 = w * 32, n = channels - c0;
                const mve_pred16_t lo = vctp8q((uint32_t)n), hi = vctp8q((uint32_t)(n > 16 ? n - 16 : 0));
                const mve_pred16_t b0 = vcmpltq_m_n_s8(vldrbq_z_s8(in + c0, lo), (int8_t)zp, lo);
                const mve_pred16_t b1 = vcmpltq_m_n_s8(vldrbq_z_s8(in + c0 + 16, hi), (int8_t)zp, hi);
                *o++ = (uint32_t)b0 | (uint32_t)b1 << 16;
            }
        }
        return;
    }
#endif
    for (r = 0; r < outer; ++r, in += channels) {
        for (w = 0; w < nwords; ++w) {
            const int32_t c0 = w * 32, c1 = channels - c0 < 32 ? channels - c0 : 32;
            uint32_t bits = 0;
            for (c = 0; c < c1; ++c) {
                bits |= (uint32_t)((int32_t)in[c0 + c] < zp) << c;
            }
            *o++ = bits;
        }
    }
}

void ep_unpack(const ep_unpack_params *p, const int8_t *in, int8_t *out)
{
    const int32_t outer = p->outer, channels = p->channels, nwords = p->words;
    const int8_t zero = (int8_t)p->zero_value, one = (int8_t)p->one_value;
    const ep_word *x = (const ep_word *)(const void *)in;
    int32_t r, c;
    for (r = 0; r < outer; ++r, x += nwords) {
        for (c = 0; c < channels; ++c) {
            *out++ = ((x[c >> 5] >> (c & 31)) & 1u) ? one : zero;
        }
    }
}

/* TfLiteRound (half away from zero) then saturation to int8, as LCE's int8 output transform on
 * x86 (its Arm builds round half to even with vcvtr: LCE is not bit-exact with itself there). */
static inline int8_t ep_round_saturate(float y)
{
    int32_t t;
    float frac;
    if (y >= 127.0f) {
        return 127;
    }
    if (y <= -128.0f) {
        return -128;
    }
    t = (int32_t)y;                     /* toward zero; |y| < 128 */
    frac = y - (float)t;                /* exact */
    if (frac >= 0.5f) {
        t += 1;
    } else if (frac <= -0.5f) {
        t -= 1;
    }
    return (int8_t)t;
}

/* int8 output transform of one accumulator (LCE's OutputTransform<int8>, back-transform first) */
static inline int8_t ep_bconv_int8(int32_t backtransform, int32_t acc, float mult, float bias)
{
    return ep_round_saturate((float)(backtransform - 2 * acc) * mult + bias);
}

#if EP_KERNELS_MVE
/* ep_bconv_int8 on four lanes at a time with MVE's float instructions (the scalar loop where the
 * core has integer-only MVE): the same float multiply then add (two roundings, no fused
 * multiply-add), VCVTA's round half away from zero (TfLiteRound; it saturates, and a NaN is 0 as
 * the scalar conversion gives on Arm), then the int8 clamp in integers. */
static void ep_bconv_int8_mve(int32_t backtransform, const int32_t *acc, const float *mult,
                              const float *bias, int32_t n, int8_t *o)
{
    int32_t f;
#if __ARM_FEATURE_MVE & 2
    const int32x4_t bt = vdupq_n_s32(backtransform);
    for (f = 0; f < n; f += 4) {
        const mve_pred16_t p = vctp32q((uint32_t)(n - f));
        const int32x4_t a = vldrwq_z_s32(acc + f, p);
        const float32x4_t y = vaddq_f32(vmulq_f32(vcvtq_f32_s32(vsubq_s32(bt, vshlq_n_s32(a, 1))),
                                                  vldrwq_z_f32(mult + f, p)),
                                        vldrwq_z_f32(bias + f, p));
        const int32x4_t r = vminq_s32(vmaxq_s32(vcvtaq_s32_f32(y), vdupq_n_s32(-128)), vdupq_n_s32(127));
        vstrbq_p_s32(o + f, r, p);
    }
#else
    for (f = 0; f < n; ++f) {
        o[f] = ep_bconv_int8(backtransform, acc[f], mult[f], bias[f]);
    }
#endif
}
#endif

#if EP_KERNELS_DSP
/* XOR-popcount of k words of x against k words of w (both word-aligned). Three words at a time go
 * through a carry-save adder (ones, twos); their 2-bit then 4-bit field counts combine in nibbles
 * (<= 12), then bytes (<= 24) added into byte lanes, which USADA8 folds into the count every 10
 * groups (<= 240 per lane); leftover words are counted alone. Each side's three words come in one
 * LDRD and one LDR. The masks are kept in registers by the caller so Thumb-2's shifted operands
 * fuse each shift with its mask. */
/* bytes += the byte-lane counts of one group of three words from x and w (both advanced) */
#define EP_DSP_GROUP3(x, w, bytes)                                                             \
    do {                                                                                       \
        uint32_t x0, x1, x2, w0, w1, w2;                                                       \
        __asm__("ldrd %0, %1, [%6], #8\n\tldr %2, [%6], #4\n\t"                                \
                "ldrd %3, %4, [%7], #8\n\tldr %5, [%7], #4"                                    \
                : "=&r"(x0), "=&r"(x1), "=&r"(x2), "=&r"(w0), "=&r"(w1), "=&r"(w2),            \
                  "+r"(x), "+r"(w)                                                             \
                : "m"(*(const uint32_t(*)[3])(x)), "m"(*(const uint32_t(*)[3])(w)));           \
        {                                                                                      \
            const uint32_t v0 = x0 ^ w0, v1 = x1 ^ w1, v2 = x2 ^ w2, u = v0 ^ v1;              \
            uint32_t o = u ^ v2, t = (v0 & v1) | (u & v2);                                     \
            o -= (o >> 1) & m1;                                                                \
            t -= (t >> 1) & m1;                                                                \
            o = (o & m2) + ((o >> 2) & m2);                                                    \
            t = (t & m2) + ((t >> 2) & m2);                                                    \
            o += t << 1;                                                                       \
            (bytes) += (o & m4) + ((o >> 4) & m4);                                             \
        }                                                                                      \
    } while (0)

/* bytes += the byte-lane counts of the `tail` (< 3) words left */
#define EP_DSP_TAIL(x, w, tail, bytes)                                                         \
    do {                                                                                       \
        int32_t n_;                                                                            \
        for (n_ = (tail); n_ > 0; --n_, ++(x), ++(w)) {                                        \
            uint32_t v = *(x) ^ *(w);                                                          \
            v -= (v >> 1) & m1;                                                                \
            v = (v & m2) + ((v >> 2) & m2);                                                    \
            (bytes) += (v & m4) + ((v >> 4) & m4);                                             \
        }                                                                                      \
    } while (0)

/* k = 3 groups + tail words, groups <= 10: one byte-lane accumulator, no folding */
static inline uint32_t ep_dsp_popcount_short(const ep_word *x, const ep_word *w, int32_t groups,
                                             int32_t tail, uint32_t m1, uint32_t m2, uint32_t m4)
{
    const ep_word *const end = x + 3 * groups;
    uint32_t bytes = 0;
    while (x != end) {
        EP_DSP_GROUP3(x, w, bytes);
    }
    EP_DSP_TAIL(x, w, tail, bytes);
    return ep_usada8(bytes, 0);
}

/* any k: the byte lanes folded into the count every 10 groups */
static inline uint32_t ep_dsp_popcount(const ep_word *x, const ep_word *w, int32_t k,
                                       uint32_t m1, uint32_t m2, uint32_t m4)
{
    uint32_t acc = 0, bytes;
    int32_t groups = k / 3, n;
    for (; groups > 0; groups -= n) {
        const ep_word *end;
        n = groups < 10 ? groups : 10;
        end = x + 3 * n;
        bytes = 0;
        while (x != end) {
            EP_DSP_GROUP3(x, w, bytes);
        }
        acc = ep_usada8(bytes, acc);
    }
    bytes = 0;
    EP_DSP_TAIL(x, w, k % 3, bytes);
    return ep_usada8(bytes, acc);
}

/* LCE's int8 output transform, ep_bconv_int8's results without its branches: y = v * mult + bias
 * as there (two roundings), 2y exactly, t = trunc(2y) (VCVT: saturating, NaN -> 0), then
 * round half away from zero is (t + (t >= 0)) >> 1 (arithmetic), saturated to int8 by SSAT; t is
 * first saturated to 16 bits so that t + 1 cannot overflow. The scalar one without an FPU. */
static inline int8_t ep_bconv_int8_dsp(int32_t backtransform, int32_t acc, float mult, float bias)
{
#if defined(__ARM_FP) && (__ARM_FP & 4)
    float y = (float)(backtransform - 2 * acc) * mult;
    int32_t t, r;
    y = y + bias;
    y = y + y;
    __asm__("vcvt.s32.f32 %0, %0" : "+t"(y));
    __asm__("vmov %0, %1" : "=r"(t) : "t"(y));
    __asm__("ssat %0, #16, %1" : "=r"(t) : "r"(t));
    t += 1 + (t >> 31);
    __asm__("ssat %0, #8, %1, asr #1" : "=r"(r) : "r"(t));
    return (int8_t)r;
#else
    return ep_bconv_int8(backtransform, acc, mult, bias);   /* no single-precision FPU */
#endif
}

/* every filter ([out.c][k] words from w) against one gathered patch: bits into the packed output
 * words po, or int8 values into o. COUNT is one filter's count of col against w. */
#define EP_DSP_FILTERS(COUNT)                                                                  \
    do {                                                                                       \
        if (packed) {                                                                          \
            for (oc = 0; oc < out_c; oc += 32) {                                               \
                const int32_t n = out_c - oc < 32 ? out_c - oc : 32;                           \
                uint32_t bits = 0;                                                             \
                int32_t f;                                                                     \
                for (f = 0; f < n; ++f, w += k) {                                              \
                    const int32_t acc = (int32_t)(COUNT);                                      \
                    bits |= (uint32_t)(acc > thresholds[oc + f]) << f;                         \
                }                                                                              \
                po[oc >> 5] = bits;                                                            \
            }                                                                                  \
        } else {                                                                               \
            for (oc = 0; oc < out_c; ++oc, w += k) {                                           \
                const int32_t acc = (int32_t)(COUNT);                                          \
                o[oc] = ep_bconv_int8_dsp(backtransform, acc, mult[oc], bias[oc]);             \
            }                                                                                  \
        }                                                                                      \
    } while (0)

/* One output pixel: not inlined, so the filter loops run in a fresh register set (masks, pointers
 * and the transform's operands in registers). The count's form is chosen once per pixel: up to 31
 * words one byte-lane accumulator (10 groups + 1 word: <= 248 per lane), without leftover words
 * when k is a multiple of 3; longer windows fold every 10 groups. */
__attribute__((noinline))
static void ep_bconv_pixel_dsp(const ep_bconv_params *p, const ep_word *col, int32_t k, int8_t *o,
                               ep_word *po)
{
    const int32_t out_c = p->out.c, backtransform = p->backtransform, packed = p->bitpacked_out;
    const int32_t groups = k / 3, tail = k % 3;
    const ep_word *w = (const ep_word *)(const void *)p->weights;
    const float *const mult = p->mult, *const bias = p->bias;
    const int32_t *const thresholds = p->thresholds;
    uint32_t m1 = 0x55555555u, m2 = 0x33333333u, m4 = 0x0F0F0F0Fu;
    int32_t oc;
    __asm__("" : "+r"(m1), "+r"(m2), "+r"(m4));
    if (k <= 31 && tail == 0) {
        EP_DSP_FILTERS(ep_dsp_popcount_short(col, w, groups, 0, m1, m2, m4));
    } else if (k <= 31) {
        EP_DSP_FILTERS(ep_dsp_popcount_short(col, w, groups, tail, m1, m2, m4));
    } else {
        EP_DSP_FILTERS(ep_dsp_popcount(col, w, k, m1, m2, m4));
    }
}

/* ep_bconv2d_col's gather (the patch is word-aligned on the stack; packed weights are int32_t), then
 * ep_bconv_pixel_dsp per output pixel */
__attribute__((noinline))
static void ep_bconv2d_col_dsp(const ep_bconv_params *p, const ep_word *x, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, iw = p->in_words;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c, ow = p->out_words;
    const int32_t kh = p->kh, kw = p->kw, k = kh * kw * iw;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t packed = p->bitpacked_out;
    ep_word *const po = (ep_word *)(void *)out;
    ep_word col[EP_BCOL_MAX];
    int32_t b, oy, ox, fy, fx, i;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                const size_t pixel = (size_t)(b * out_h + oy) * out_w + ox;
                ep_word *c = col;
                for (fy = 0; fy < kh; ++fy) {
                    const int32_t iy = iy0 + dil_h * fy;
                    for (fx = 0; fx < kw; ++fx) {
                        const int32_t ix = ix0 + dil_w * fx;
                        if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                            *c++ = 0;                   /* iw >= 1 */
                            for (i = 1; i < iw; ++i) {
                                *c++ = 0;
                            }
                        } else {
                            const ep_word *src = x + ((size_t)(b * in_h + iy) * in_w + ix) * iw;
                            *c++ = src[0];
                            for (i = 1; i < iw; ++i) {
                                *c++ = src[i];
                            }
                        }
                    }
                }
                ep_bconv_pixel_dsp(p, col, k, packed ? out : out + pixel * out_c, packed ? po + pixel * ow : po);
            }
        }
    }
}
#endif

/* The window of every output pixel gathered into one contiguous run of k words (a padded tap is
 * a 0 word: +1, one-padding), met by each filter ([kh][kw][in_words], contiguous) in one
 * XOR-popcount pass (on Helium four filters per pass, sharing the patch loads). */
static void ep_bconv2d_col(const ep_bconv_params *p, const ep_word *x, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, iw = p->in_words;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c, ow = p->out_words;
    const int32_t kh = p->kh, kw = p->kw, k = kh * kw * iw;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t backtransform = p->backtransform, packed = p->bitpacked_out;
    const ep_word *const weights = (const ep_word *)(const void *)p->weights;
    const float *const mult = p->mult, *const bias = p->bias;
    const int32_t *const thresholds = p->thresholds;
    ep_word *const po = (ep_word *)(void *)out;
    ep_word col[EP_BCOL_MAX];
    int32_t b, oy, ox, oc, fy, fx, i;

    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                const size_t pixel = (size_t)(b * out_h + oy) * out_w + ox;
                ep_word *c = col;
                for (fy = 0; fy < kh; ++fy) {
                    const int32_t iy = iy0 + dil_h * fy;
                    for (fx = 0; fx < kw; ++fx) {
                        const int32_t ix = ix0 + dil_w * fx;
                        if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                            for (i = 0; i < iw; ++i) {
                                *c++ = 0;
                            }
                        } else {
                            const ep_word *src = x + ((size_t)(b * in_h + iy) * in_w + ix) * iw;
                            *c++ = src[0];              /* iw >= 1; one word up to 32 channels */
                            for (i = 1; i < iw; ++i) {
                                *c++ = src[i];
                            }
                        }
                    }
                }
#if EP_KERNELS_MVE
                /* 32 filters' counts at a time (one output word), four filters per patch pass */
                for (oc = 0; oc < out_c; oc += 32) {
                    const int32_t n = out_c - oc < 32 ? out_c - oc : 32;
                    int32_t acc[32], f;
                    ep_xor_popcount_rows(col, weights + (size_t)oc * k, k, n, acc);
                    if (packed) {
                        uint32_t bits = 0;
                        for (f = 0; f < n; ++f) {
                            bits |= (uint32_t)(acc[f] > thresholds[oc + f]) << f;
                        }
                        po[pixel * ow + (oc >> 5)] = bits;
                    } else {
                        ep_bconv_int8_mve(backtransform, acc, mult + oc, bias + oc, n, out + pixel * out_c + oc);
                    }
                }
#else
                if (packed) {
                    ep_word *word = po + pixel * ow;
                    uint32_t bits = 0;
                    for (oc = 0; oc < out_c; ++oc) {
                        const int32_t acc = ep_xor_popcount(col, weights + (size_t)oc * k, k);
                        bits |= (uint32_t)(acc > thresholds[oc]) << (oc & 31);
                        if ((oc & 31) == 31 || oc + 1 == out_c) {
                            word[oc >> 5] = bits;
                            bits = 0;
                        }
                    }
                } else {
                    int8_t *o = out + pixel * out_c;
                    for (oc = 0; oc < out_c; ++oc) {
                        const int32_t acc = ep_xor_popcount(col, weights + (size_t)oc * k, k);
                        o[oc] = ep_bconv_int8(backtransform, acc, mult[oc], bias[oc]);
                    }
                }
#endif
            }
        }
    }
}

void ep_bconv2d(const ep_bconv_params *p, const int8_t *in, int8_t *out)
{
    const int32_t in_h = p->in.h, in_w = p->in.w, iw = p->in_words;
    const int32_t out_h = p->out.h, out_w = p->out.w, out_c = p->out.c, ow = p->out_words;
    const int32_t kh = p->kh, kw = p->kw;
    const int32_t stride_h = p->stride_h, stride_w = p->stride_w, dil_h = p->dil_h, dil_w = p->dil_w;
    const int32_t backtransform = p->backtransform, packed = p->bitpacked_out;
    const ep_word *const x = (const ep_word *)(const void *)in;
    const ep_word *const weights = (const ep_word *)(const void *)p->weights;
    static const ep_word zeros[1] = {0};
    int32_t b, oy, ox, oc, fy, fx, i;

#if EP_KERNELS_DSP
    if (kh * kw * iw <= EP_BCOL_MAX) {
        ep_bconv2d_col_dsp(p, x, out);
        return;
    }
#endif
    if (kh * kw * iw <= EP_BCOL_MAX) {
        ep_bconv2d_col(p, x, out);
        return;
    }
    /* windows too large for the patch buffer: the same sums, tap by tap */
    for (b = 0; b < p->out.n; ++b) {
        for (oy = 0; oy < out_h; ++oy) {
            const int32_t iy0 = oy * stride_h - p->pad_h;
            for (ox = 0; ox < out_w; ++ox) {
                const int32_t ix0 = ox * stride_w - p->pad_w;
                const size_t pixel = (size_t)(b * out_h + oy) * out_w + ox;
                for (oc = 0; oc < out_c; ++oc) {
                    const ep_word *w = weights + (size_t)oc * kh * kw * iw;
                    int32_t acc = 0;
                    for (fy = 0; fy < kh; ++fy) {
                        const int32_t iy = iy0 + dil_h * fy;
                        for (fx = 0; fx < kw; ++fx, w += iw) {
                            const int32_t ix = ix0 + dil_w * fx;
                            if (iy < 0 || iy >= in_h || ix < 0 || ix >= in_w) {
                                for (i = 0; i < iw; ++i) {
                                    acc += ep_xor_popcount(zeros, w + i, 1);
                                }
                            } else {
                                acc += ep_xor_popcount(x + ((size_t)(b * in_h + iy) * in_w + ix) * iw, w, iw);
                            }
                        }
                    }
                    if (packed) {
                        ep_word *word = (ep_word *)(void *)out + pixel * ow + (oc >> 5);
                        if ((oc & 31) == 0) {
                            *word = 0;
                        }
                        *word |= (uint32_t)(acc > p->thresholds[oc]) << (oc & 31);
                    } else {
                        out[pixel * out_c + oc] = ep_bconv_int8(backtransform, acc, p->mult[oc], p->bias[oc]);
                    }
                }
            }
        }
    }
}
