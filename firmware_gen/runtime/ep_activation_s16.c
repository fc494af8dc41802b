/* SOFTMAX, LOGISTIC and TANH for int16 as TFLM implements them: softmax through the exp and
 * 1/(1+x) lookup tables (generated at generation time exactly as TFLM's Prepare builds them),
 * logistic and tanh through the shared sigmoid table with linear interpolation. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_fixedpoint_s16.h"
#include "ep_sigmoid_table.h"

#include <stddef.h>

void ep_softmax_s16(const ep_softmax_s16_params *p, const int16_t *in, int16_t *out)
{
    int32_t i, c;

    for (i = 0; i < p->outer; ++i) {
        const int16_t *row = in + (size_t)i * p->depth;
        int16_t *exps = out + (size_t)i * p->depth;     /* exp values cached in the output row */
        int32_t max_in_row = -32768;
        int32_t sum_of_exps = 0;                          /* Q16.15 */
        int headroom_plus_one, right_shift;
        int32_t shifted_sum;
        int16_t reciprocal;

        for (c = 0; c < p->depth; ++c) {
            max_in_row = row[c] > max_in_row ? row[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            /* [-65535, 0] -> [-10, 0], recentred to [-32768, 32767] for the exp table */
            const int32_t scaled = ep_mbqm((int32_t)row[c] - max_in_row, p->input_multiplier,
                                           p->input_left_shift);
            exps[c] = ep_lut_lookup_s16((int16_t)ep_clamp_s16(scaled + 32767, -32768, 32767), p->exp_lut);
            sum_of_exps += exps[c];
        }
        headroom_plus_one = ep_clz32((uint32_t)sum_of_exps);
        shifted_sum = (int32_t)((((int64_t)sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14);
        /* 1/(1+x) with x = sum - 1, recentred from [0, 65535] to [-32768, 32767] */
        reciprocal = ep_lut_lookup_s16(
            (int16_t)ep_clamp_s16(shifted_sum - ((1 << 15) + (1 << 16)), -32768, 32767),
            p->one_over_one_plus_x_lut);
        right_shift = 31 - headroom_plus_one;
        for (c = 0; c < p->depth; ++c) {
            const int64_t round = (int64_t)1 << (right_shift - 1);
            const int32_t result = (int32_t)(((int64_t)exps[c] * reciprocal + round) >> right_shift);
            exps[c] = (int16_t)ep_clamp_s16(result, 0, 32767);
        }
    }
}

void ep_logistic_s16(const ep_sigmoid_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t mult = p->input_multiplier, shift = p->input_left_shift;
    const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
    int32_t i;

    for (i = 0; i < p->size; ++i) {
        const int32_t x = ((int32_t)in[i] * mult + round) >> shift;
        const uint32_t ax = (uint32_t)(x < 0 ? -x : x);
        const uint32_t uh = ax >> 9;
        uint32_t result;
        if (uh >= 255) {
            result = 0x7FFFu << 10;
        } else {
            const uint32_t ua = ep_sigmoid_table_uint16[uh];
            const uint32_t ub = ep_sigmoid_table_uint16[uh + 1];
            result = (ua << 9) + (ax & 0x1ffu) * (ub - ua);
        }
        result = x >= 0 ? result + (1u << 9) : (1u << (16 + 9)) - result + (1u << 9) - 1u;
        out[i] = (int16_t)(result >> 10);
    }
}

void ep_tanh_s16(const ep_sigmoid_s16_params *p, const int16_t *in, int16_t *out)
{
    const int32_t mult = p->input_multiplier, shift = p->input_left_shift;
    const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
    int32_t i;

    for (i = 0; i < p->size; ++i) {
        const int32_t x = ((int32_t)in[i] * mult + round) >> shift;
        const uint32_t ax = (uint32_t)(x < 0 ? -x : x);
        const uint32_t uh = ax >> 8;
        int32_t result;
        if (uh >= 255) {
            result = (int32_t)(0xFFFFu << 8);
        } else {
            const uint32_t ua = ep_sigmoid_table_uint16[uh];
            const uint32_t ub = ep_sigmoid_table_uint16[uh + 1];
            result = (int32_t)((ua << 8) + (ax & 0xffu) * (ub - ua));
        }
        result = x >= 0 ? result - (1 << (14 + 9)) + (1 << (9 - 2))
                        : -result + (1 << (14 + 9)) + (1 << (9 - 2)) - 1;
        out[i] = (int16_t)(result >> (9 - 1));
    }
}
