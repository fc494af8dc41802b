/* SOFTMAX, LOGISTIC and TANH for int8, on gemmlowp fixed point exactly as TFLM's reference
 * kernels (reference_ops::Softmax<int8,int8>, reference_integer_ops::Logistic / Tanh). */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>

/* exp(x) for x in [-1/4, 0), x and result in Q0.31 */
static int32_t ep_exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a)
{
    const int32_t constant_term = 1895147668;     /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (1 << 28);              /* a + 1/8 */
    const int32_t x2 = ep_srdhm(x, x);
    const int32_t x3 = ep_srdhm(x2, x);
    const int32_t x4 = ep_srdhm(x2, x2);
    const int32_t x4_over_4 = ep_sat_mul_pot(x4, -2);
    const int32_t poly = ep_sat_mul_pot(ep_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, -1);
    return constant_term + ep_srdhm(constant_term, x + poly);
}

int32_t ep_exp_on_negative_values(int32_t a, int integer_bits)
{
    static const int32_t multipliers[7] = {
        1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242,
    };
    const int fractional_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (fractional_bits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    int32_t result = ep_exp_on_interval_between_negative_one_quarter_and_0_excl(
        ep_sat_mul_pot(a_mod_quarter_minus_one_quarter, integer_bits));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    int k;

    /* barrel shifter: multiply by exp(-2^e) for each bit e = -2..4 set in the remainder */
    for (k = 0; k < 7; ++k) {
        const int exponent = k - 2;
        if (integer_bits > exponent) {
            const int shift = fractional_bits + exponent;
            if (remainder & ((int32_t)1 << shift)) {
                result = ep_srdhm(result, multipliers[k]);
            }
        }
    }
    if (integer_bits > 5) {
        const int32_t clamp = -((int32_t)1 << (36 - integer_bits));
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX;
    }
    return result;
}

static int32_t ep_rounding_half_sum(int32_t a, int32_t b)
{
    const int64_t sum = (int64_t)a + (int64_t)b;
    const int64_t sign = sum >= 0 ? 1 : -1;
    return (int32_t)((sum + sign) / 2);
}

/* Newton-Raphson division shared by 1/(1+x) and (1-x)/(1+x); returns x in Q2.29 */
static int32_t ep_newton_reciprocal_q2(int32_t half_denominator)
{
    const int32_t constant_48_over_17 = 1515870810;
    const int32_t constant_neg_32_over_17 = -1010580540;
    int32_t x = constant_48_over_17 + ep_srdhm(half_denominator, constant_neg_32_over_17);
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t half_denominator_times_x = ep_srdhm(half_denominator, x);
        const int32_t one_minus = (1 << 29) - half_denominator_times_x;
        x = x + ep_sat_mul_pot(ep_srdhm(x, one_minus), 2);
    }
    return x;
}

int32_t ep_one_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t x = ep_newton_reciprocal_q2(ep_rounding_half_sum(a, INT32_MAX));
    return ep_sat_mul_pot(x, 1);     /* ExactMulByPot<-1> then Rescale<0> */
}

int32_t ep_one_minus_x_over_one_plus_x_for_x_in_0_1(int32_t a)
{
    const int32_t x = ep_newton_reciprocal_q2(ep_rounding_half_sum(a, INT32_MAX));
    return ep_sat_mul_pot(x - (1 << 29), 2);
}

void ep_softmax(const ep_softmax_params *p, const int8_t *in, int8_t *out)
{
    int32_t i, c;

    for (i = 0; i < p->outer; ++i) {
        const int8_t *row = in + (size_t)i * p->depth;
        int8_t *orow = out + (size_t)i * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;      /* Q12.19 */
        int headroom_plus_one, num_bits_over_unit, exponent;
        int32_t shifted_scale;

        for (c = 0; c < p->depth; ++c) {
            max_in_row = row[c] > max_in_row ? row[c] : max_in_row;
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)row[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled = ep_srdhm(diff * (1 << p->input_left_shift), p->input_multiplier);
                sum_of_exps += ep_rdbpot(ep_exp_on_negative_values(rescaled, 5), 12);
            }
        }
        /* GetReciprocal(sum_of_exps, 12) */
        headroom_plus_one = ep_clz32((uint32_t)sum_of_exps);
        num_bits_over_unit = 12 - headroom_plus_one;
        shifted_scale = ep_one_over_one_plus_x_for_x_in_0_1(
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - ((uint32_t)1 << 31)));
        exponent = num_bits_over_unit + 31 - 8;

        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)row[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled = ep_srdhm(diff * (1 << p->input_left_shift), p->input_multiplier);
                const int32_t exp_in_0 = ep_exp_on_negative_values(rescaled, 5);
                const int32_t unsat = ep_rdbpot(ep_srdhm(shifted_scale, exp_in_0), exponent);
                orow[c] = (int8_t)ep_clamp(unsat - 128, -128, 127);
            } else {
                orow[c] = -128;
            }
        }
    }
}

/* gemmlowp::logistic on Q4.27 input, Q0.31 result */
static int32_t ep_logistic_q4(int32_t a)
{
    int32_t abs_a, positive;
    if (a == 0) {
        return 1 << 30;
    }
    abs_a = a > 0 ? a : -a;
    positive = ep_one_over_one_plus_x_for_x_in_0_1(ep_exp_on_negative_values(-abs_a, 4));
    return a > 0 ? positive : INT32_MAX - positive;
}

/* gemmlowp::tanh on Q4.27 input, Q0.31 result */
static int32_t ep_tanh_q4(int32_t a)
{
    int32_t neg_abs, t;
    if (a == 0) {
        return 0;
    }
    neg_abs = a < 0 ? a : -a;
    /* ExactMulByPot<1>: same raw bits read as Q5.26 */
    t = ep_one_minus_x_over_one_plus_x_for_x_in_0_1(ep_exp_on_negative_values(neg_abs, 5));
    return a < 0 ? -t : t;
}

void ep_logistic(const ep_sigmoid_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)in[i] - p->input_zero_point;
        if (x <= -p->input_range_radius) {
            out[i] = -128;
        } else if (x >= p->input_range_radius) {
            out[i] = 127;
        } else {
            const int32_t q4 = ep_mbqm(x, p->input_multiplier, p->input_left_shift);
            const int32_t q23 = ep_rdbpot(ep_logistic_q4(q4), 31 - 8);
            out[i] = (int8_t)ep_clamp(q23 - 128, -128, 127);
        }
    }
}

void ep_tanh(const ep_sigmoid_params *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t x = (int32_t)in[i] - p->input_zero_point;
        if (x <= -p->input_range_radius) {
            out[i] = -128;
        } else if (x >= p->input_range_radius) {
            out[i] = 127;
        } else {
            const int32_t q4 = ep_mbqm(x, p->input_multiplier, p->input_left_shift);
            const int32_t q24 = ep_rdbpot(ep_tanh_q4(q4), 31 - 7);
            out[i] = (int8_t)ep_clamp(q24, -128, 127);
        }
    }
}
