/* SOFTMAX, LOGISTIC and TANH for int16 as TFLM implements them: softmax through the exp and
 * 1/(1+x) lookup tables (generated at generation time exactly as TFLM's Prepare builds them),
 * logistic and tanh through the shared sigmoid table with linear interpolation. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_fixedpoint_s16.h"

#include <stddef.h>

/* sigmoid(i / 24) in 0.16 fixed point, 256 entries (tflite common.h sigmoid_table_uint16) */
static const uint16_t ep_sigmoid_table_uint16[256] = {
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498,
    40149, 40794, 41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255,
    46817, 47369, 47911, 48443, 48964, 49475, 49975, 50464, 50942, 51409, 51865,
    52311, 52745, 53169, 53581, 53983, 54374, 54755, 55125, 55485, 55834, 56174,
    56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544, 58800, 59048, 59288,
    59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279, 61441,
    61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886,
    62990, 63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835,
    63903, 63968, 64030, 64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450,
    64494, 64536, 64576, 64614, 64652, 64687, 64721, 64754, 64786, 64816, 64845,
    64873, 64900, 64926, 64950, 64974, 64997, 65019, 65039, 65060, 65079, 65097,
    65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234, 65246, 65258,
    65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425,
    65429, 65433, 65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465,
    65468, 65471, 65474, 65476, 65479, 65481, 65483, 65485, 65488, 65489, 65491,
    65493, 65495, 65497, 65498, 65500, 65501, 65503, 65504, 65505, 65507, 65508,
    65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516, 65517, 65517, 65518,
    65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524, 65525,
    65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529,
    65529, 65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531,
    65532, 65532, 65532, 65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533,
    65533, 65533, 65533, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534,
    65534, 65534, 65535,
};

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
