/* UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF as TFLM's integer reference kernels compute them
 * (micro/kernels/lstm_eval.{h,cc}, svdf_common.cc), with the same integer steps in the same order. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"
#include "ep_fixedpoint_s16.h"
#include "ep_sigmoid_table.h"
#include "ep_simd.h"

#include <stddef.h>
#include <string.h>

static inline int16_t ep_sat16(int32_t x)
{
    return (int16_t)(x < -32768 ? -32768 : (x > 32767 ? 32767 : x));
}

/* reference_integer_ops::Logistic for int16, input_multiplier 0 and shift 0: the gate's Q3.12
 * input times 3 (the table's 3/4 scaling), then the interpolated table */
static inline int16_t ep_sigmoid_q15(int32_t in)
{
    const int32_t x = in * 3;
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
    return (int16_t)(result >> 10);
}

/* reference_integer_ops::Tanh for int16 with a resolved (multiplier, shift): see ep_tanh_s16 */
static inline int16_t ep_tanh_q15(int32_t in, int32_t mult, int32_t shift)
{
    const int32_t round = shift > 0 ? 1 << (shift - 1) : 0;
    const int32_t x = (in * mult + round) >> shift;
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
    return (int16_t)(result >> (9 - 1));
}

/* one int8 FC row requantized to int16 (reference_integer_ops::FullyConnected<int8, int8, int16,
 * int32> with weights offset 0, output offset 0, full int16 range). ep_dot (ep_simd.h: SMLAD on
 * Cortex-M4/M7, VMLADAVA on the M55) gives the reference's int32 sum bit for bit; the builder
 * checked that no partial sum can leave int32. */
static inline int16_t ep_fc_row_s8(const int8_t *w, const int8_t *x, int32_t n, int32_t x_offset,
                                   int32_t bias, int32_t mult, int32_t shift)
{
    return ep_sat16(ep_mbqm(ep_dot(w, x, n, x_offset) + bias, mult, shift));
}

void ep_lstm_s8(const ep_lstm_params *p, const int8_t *in, int8_t *hidden, int16_t *cell, int8_t *out)
{
    const int32_t B = p->batches, T = p->time_steps, I = p->input_dim, S = p->state_dim;
    int32_t b, t, j, g;

    for (b = 0; b < B; ++b) {
        int8_t *h = hidden + (size_t)b * S;
        int16_t *c = cell + (size_t)b * S;
        for (t = 0; t < T; ++t) {
            const size_t step = p->time_major ? (size_t)t * B + b : (size_t)b * T + t;
            const int8_t *x = in + step * I;
            int8_t *y = out + step * S;
            for (j = 0; j < S; ++j) {
                int16_t gate[4];
                int16_t c_forget, c_input, c_new, tanh_c;
                for (g = 0; g < 4; ++g) {
                    const int16_t fx = ep_fc_row_s8(p->in_weights + ((size_t)g * S + j) * I, x, I, p->in_offset,
                                                    p->bias[g * S + j], p->in_mult[g], p->in_shift[g]);
                    const int16_t fh = ep_fc_row_s8(p->rec_weights + ((size_t)g * S + j) * S, h, S,
                                                    p->hidden_offset, 0, p->rec_mult[g], p->rec_shift[g]);
                    const int16_t pre = ep_sat16((int32_t)fx + fh);
                    gate[g] = (g == 2 && p->cell_gate_tanh) ? ep_tanh_q15(pre, 3, 0) : ep_sigmoid_q15(pre);
                }
                /* c = f * c + i * g (two MulElementwise, a saturating add), then the clip */
                c_forget = ep_sat16(ep_mbqm((int32_t)gate[1] * c[j], p->forget_mult, p->forget_shift));
                c_input = ep_sat16(ep_mbqm((int32_t)gate[0] * gate[2], p->input_mult, p->input_shift));
                c_new = ep_sat16((int32_t)c_forget + c_input);
                if (p->cell_clip > 0) {
                    c_new = (int16_t)ep_clamp(c_new, -p->cell_clip, p->cell_clip);
                }
                c[j] = c_new;
                /* h = tanh(c) * o, requantized to the hidden state's int8 */
                tanh_c = ep_tanh_q15(c_new, p->cell_tanh_mult, p->cell_tanh_shift);
                y[j] = (int8_t)ep_clamp(ep_mbqm((int32_t)tanh_c * gate[3], p->hidden_mult, p->hidden_shift)
                                        + p->hidden_zero_point, -128, 127);
            }
            /* h_{t-1} was read by every unit above; now it becomes h_t */
            memcpy(h, y, (size_t)S);
        }
    }
}

/* one int16 FC row requantized to int16 (reference_integer_ops::FullyConnected<int16, int8, int16,
 * int64>: int64 accumulator and bias, the 64-bit MultiplyByQuantizedMultiplier) */
static inline int16_t ep_fc_row_s16(const int8_t *w, const int16_t *x, int32_t n, int64_t bias,
                                    int32_t mult, int32_t shift)
{
    int64_t acc = 0;
    int32_t d;
    for (d = 0; d < n; ++d) {
        acc += (int64_t)((int32_t)w[d] * (int32_t)x[d]);
    }
    acc += bias;
    return ep_sat16(ep_mbqm64(acc, mult, shift));
}

void ep_lstm_s16(const ep_lstm_params *p, const int16_t *in, int16_t *hidden, int16_t *cell, int16_t *out)
{
    const int32_t B = p->batches, T = p->time_steps, I = p->input_dim, S = p->state_dim;
    int32_t b, t, j, g;

    for (b = 0; b < B; ++b) {
        int16_t *h = hidden + (size_t)b * S;
        int16_t *c = cell + (size_t)b * S;
        for (t = 0; t < T; ++t) {
            const size_t step = p->time_major ? (size_t)t * B + b : (size_t)b * T + t;
            const int16_t *x = in + step * I;
            int16_t *y = out + step * S;
            for (j = 0; j < S; ++j) {
                int16_t gate[4];
                int16_t c_forget, c_input, c_new, tanh_c;
                for (g = 0; g < 4; ++g) {
                    const int16_t fx = ep_fc_row_s16(p->in_weights + ((size_t)g * S + j) * I, x, I,
                                                     p->bias64[g * S + j], p->in_mult[g], p->in_shift[g]);
                    const int16_t fh = ep_fc_row_s16(p->rec_weights + ((size_t)g * S + j) * S, h, S, 0,
                                                     p->rec_mult[g], p->rec_shift[g]);
                    const int16_t pre = ep_sat16((int32_t)fx + fh);
                    gate[g] = (g == 2 && p->cell_gate_tanh) ? ep_tanh_q15(pre, 3, 0) : ep_sigmoid_q15(pre);
                }
                c_forget = ep_sat16(ep_mbqm((int32_t)gate[1] * c[j], p->forget_mult, p->forget_shift));
                c_input = ep_sat16(ep_mbqm((int32_t)gate[0] * gate[2], p->input_mult, p->input_shift));
                c_new = ep_sat16((int32_t)c_forget + c_input);
                if (p->cell_clip > 0) {
                    c_new = (int16_t)ep_clamp(c_new, -p->cell_clip, p->cell_clip);
                }
                c[j] = c_new;
                tanh_c = ep_tanh_q15(c_new, p->cell_tanh_mult, p->cell_tanh_shift);
                y[j] = ep_sat16(ep_mbqm((int32_t)tanh_c * gate[3], p->hidden_mult, p->hidden_shift)
                                + p->hidden_zero_point);
            }
            memcpy(h, y, (size_t)S * sizeof(int16_t));
        }
    }
}

#define EP_SVDF_BODY(STATE_T, STATE_MIN, STATE_MAX, TIME_WEIGHTS)                                          \
    const int32_t F = p->filters, M = p->memory, U = p->units, R = p->rank;                           \
    int32_t b, f, m, u, r, k;                                                                         \
    /* shift every memory by one (TFLM moves the whole state one element down) */                     \
    if (p->batches * F * M > 1) {                                                                     \
        memmove(state, state + 1, ((size_t)p->batches * F * M - 1) * sizeof(STATE_T));               \
    }                                                                                                 \
    for (b = 0; b < p->batches; ++b) {                                                                \
        const int8_t *x = in + (size_t)b * p->input_dim;                                              \
        for (f = 0; f < F; ++f) {                                                                     \
            const int8_t *w = p->feature_weights + (size_t)f * p->input_dim;                          \
            int32_t acc = 0;                                                                          \
            for (k = 0; k < p->input_dim; ++k) {                                                      \
                acc += (int32_t)w[k] * ((int32_t)x[k] - p->in_zero_point);                            \
            }                                                                                         \
            acc = ep_clamp(ep_mbqm(acc, p->feature_mult, p->feature_shift), STATE_MIN, STATE_MAX);     \
            /* TFLM adds the zero point after the clamp and stores with a narrowing conversion */     \
            state[((size_t)b * F + f) * M + (M - 1)] =                                                \
                (STATE_T)(int32_t)(uint32_t)(p->state_zero_point + acc);                              \
        }                                                                                             \
        for (u = 0; u < U; ++u) {                                                                     \
            int32_t sum = p->bias[u];                                                                 \
            for (r = 0; r < R; ++r) {                                                                 \
                const int32_t filt = u * R + r;                                                       \
                const STATE_T *s = state + ((size_t)b * F + filt) * M;                                \
                const STATE_T *tw = p->TIME_WEIGHTS + (size_t)filt * M;                              \
                int32_t dot = 0;                                                                      \
                for (m = 0; m < M; ++m) {                                                             \
                    dot += (int32_t)tw[m] * ((int32_t)s[m] - p->state_zero_point);                    \
                }                                                                                     \
                sum += dot;                                                                           \
            }                                                                                         \
            out[(size_t)b * U + u] = (int8_t)ep_clamp(ep_mbqm(sum, p->out_mult, p->out_shift)        \
                                                      + p->out_zero_point, -128, 127);                \
        }                                                                                             \
    }

void ep_svdf_s8_s16(const ep_svdf_params *p, const int8_t *in, int16_t *state, int8_t *out)
{
    EP_SVDF_BODY(int16_t, -32768, 32767, time_weights16)
}

void ep_svdf_s8_s8(const ep_svdf_params *p, const int8_t *in, int8_t *state, int8_t *out)
{
    EP_SVDF_BODY(int8_t, -128, 127, time_weights8)
}
