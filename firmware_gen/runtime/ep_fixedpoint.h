/* Integer arithmetic shared by the kernels: TFLite's MultiplyByQuantizedMultiplier (double
 * rounding, TFLM's default build) and the gemmlowp fixed-point primitives used by softmax,
 * logistic and tanh. Every function reproduces the reference bit for bit; signed shifts of
 * negative values are written as multiplications so UBSan stays quiet. */
#ifndef EP_FIXEDPOINT_H
#define EP_FIXEDPOINT_H

#include <stdint.h>

static inline int32_t ep_clamp(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* gemmlowp SaturatingRoundingDoublingHighMul. gemmlowp adds a nudge of 2^30 (ab >= 0) or
 * 1 - 2^30 (ab < 0) and divides by 2^31 rounding toward zero; for both signs that is exactly
 * floor((ab + 2^30) / 2^31), one add and an arithmetic shift instead of two sign-dependent
 * corrections (checked against the gemmlowp form in tests/test_kernels_arm.py). The result fits
 * in int32 except for INT32_MIN * INT32_MIN, gemmlowp's saturating case. */
static inline int32_t ep_srdhm(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* gemmlowp RoundingDivideByPOT: round half away from zero */
static inline int32_t ep_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* TFLite MultiplyByQuantizedMultiplier (non single-rounding variant) */
static inline int32_t ep_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int left = shift > 0 ? shift : 0;
    const int right = shift > 0 ? 0 : -shift;
    return ep_rdbpot(ep_srdhm((int32_t)((uint32_t)x << left), multiplier), right);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT<exponent> */
static inline int32_t ep_sat_mul_pot(int32_t x, int exponent)
{
    if (exponent > 0) {
        const int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
        if (x > threshold) {
            return INT32_MAX;
        }
        if (x < -threshold) {
            return INT32_MIN;
        }
        return x * (1 << exponent);
    }
    if (exponent < 0) {
        return ep_rdbpot(x, -exponent);
    }
    return x;
}

static inline int ep_clz32(uint32_t x)
{
#if defined(__GNUC__)
    return x == 0 ? 32 : __builtin_clz(x);
#else
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* gemmlowp math on raw int32 values; integer bits are passed explicitly. */
int32_t ep_exp_on_negative_values(int32_t a, int integer_bits);
int32_t ep_one_over_one_plus_x_for_x_in_0_1(int32_t a);
int32_t ep_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a);

#endif /* EP_FIXEDPOINT_H */
