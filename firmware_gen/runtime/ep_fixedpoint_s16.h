/* Integer helpers of TFLM's int16 kernels, bit for bit: the 64-bit MultiplyByQuantizedMultiplier
 * (double-rounding build) and the interpolating int16 lookup of common.h. */
#ifndef EP_FIXEDPOINT_S16_H
#define EP_FIXEDPOINT_S16_H

#include <stdint.h>

/* MultiplyByQuantizedMultiplier(int64_t x, ...): the multiplier is reduced to 16 bits, then one
 * rounding shift. x stays within +-2^47 (int8 weights times int16 inputs plus an int64 bias). */
static inline int32_t ep_mbqm64(int64_t x, int32_t multiplier, int32_t shift)
{
    const int32_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int total_shift = 15 - shift;
    const int64_t r = x * (int64_t)reduced + ((int64_t)1 << (total_shift - 1));
    return (int32_t)(r >> total_shift);
}

/* LUTLookup(int16_t, const int16_t *): 513-entry table, 9 bits of index, 7 of interpolation. */
static inline int16_t ep_lut_lookup_s16(int16_t value, const int16_t *lut)
{
    const uint16_t index = (uint16_t)(256 + (value >> 7));
    const int16_t offset = (int16_t)(value & 0x7f);
    const int16_t base = lut[index];
    const int16_t slope = (int16_t)(lut[index + 1] - lut[index]);
    const int delta = (slope * offset + 64) >> 7;
    return (int16_t)(base + delta);
}

static inline int32_t ep_clamp_s16(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif /* EP_FIXEDPOINT_S16_H */
