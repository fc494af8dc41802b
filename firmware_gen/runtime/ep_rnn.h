/* edgepipe runtime: recurrent kernels (UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF), bit-exact with
 * TFLM's integer reference kernels. Included by ep_runtime.h; the code is in ep_rnn.c.
 *
 * Their state (the LSTM's hidden and cell state, the SVDF's activation memory) is a variable
 * tensor of the model, kept in the engine's state region: the kernels read and update it in place
 * through the pointers they are given, so it carries over from one invocation to the next exactly
 * as in TFLM; <prefix>_reset() fills it with its zero point. */
#ifndef EP_RNN_H
#define EP_RNN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* UNIDIRECTIONAL_SEQUENCE_LSTM, the standard (Keras) LSTM TFLM runs: no peephole, projection,
 * layer norm or CIFG. Gates in TFLite's order i, f, g (cell), o; each gate is
 * act(FC(x_t) + FC(h_{t-1})) with both FCs requantized to int16 at 2^-12 (Q3.12), the sigmoid /
 * tanh give Q0.15, the cell state is int16 at 2^cell_power. TFLM's lstm_eval.h, element for
 * element: every output unit j only needs row j of each weight matrix, so the gates are formed
 * one unit at a time and h_t is written straight to the output sequence (no scratch buffers).
 *
 * int8 (ep_lstm_s8): int8 input / hidden state / output (zero points in_offset, hidden_offset),
 * int32 bias, int32 accumulators. */
typedef struct {
    int32_t batches, time_steps, input_dim, state_dim, time_major;
    int32_t in_offset;             /* -input zero point */
    int32_t hidden_offset;         /* -hidden state zero point (recurrent FC input offset) */
    int32_t hidden_zero_point;     /* the hidden state's (= output's) zero point */
    int32_t cell_gate_tanh;        /* 1: tanh on the cell gate (Keras), 0: sigmoid */
    int32_t in_mult[4], in_shift[4];      /* input FC of each gate -> Q3.12 */
    int32_t rec_mult[4], rec_shift[4];    /* recurrent FC of each gate -> Q3.12 */
    int32_t forget_mult, forget_shift;    /* f (Q0.15) x c -> c */
    int32_t input_mult, input_shift;      /* i (Q0.15) x g (Q0.15) -> c */
    int32_t hidden_mult, hidden_shift;    /* tanh(c) (Q0.15) x o (Q0.15) -> h */
    int32_t cell_tanh_mult, cell_tanh_shift;   /* tanh(c): c rescaled to Q3.12 (as ep_tanh_s16) */
    int32_t cell_clip;             /* > 0: clamp the cell state to +-cell_clip; 0: no clipping */
    const int8_t *in_weights;      /* [4][state_dim][input_dim] */
    const int8_t *rec_weights;     /* [4][state_dim][state_dim] */
    const int32_t *bias;           /* [4][state_dim] (int8) */
    const int64_t *bias64;         /* [4][state_dim] (int16x8) */
} ep_lstm_params;

/* in [batches x time_steps x input_dim] (time-major: [time_steps x batches x input_dim]),
 * out likewise with state_dim; hidden [batches x state_dim] and cell [batches x state_dim] are the
 * state, updated in place. */
void ep_lstm_s8(const ep_lstm_params *p, const int8_t *in, int8_t *hidden, int16_t *cell, int8_t *out);
/* int16x8 (TFLM's EvalLstm<int16, int8, int16, int64>): int16 input / hidden state / output (zero
 * point 0), int64 bias and accumulators; in_offset and hidden_offset are 0 */
void ep_lstm_s16(const ep_lstm_params *p, const int16_t *in, int16_t *hidden, int16_t *cell, int16_t *out);

/* SVDF (TFLM's EvalIntegerSvdfReference): int8 input, int8 feature weights, int16 (or int8) time
 * weights and state, int32 bias, int8 output. Each call shifts every filter's memory by one,
 * writes the requantized feature dot product as the newest entry, then sums time weights x memory
 * per filter, filters per unit (rank) plus the bias, and requantizes. */
typedef struct {
    int32_t batches, input_dim, filters, units, rank, memory;
    int32_t in_zero_point, state_zero_point, out_zero_point;
    int32_t feature_mult, feature_shift;  /* input x feature weights -> state */
    int32_t out_mult, out_shift;          /* state x time weights -> output */
    const int8_t *feature_weights;        /* [filters][input_dim] */
    const int16_t *time_weights16;        /* [filters][memory] (int16 state), or NULL */
    const int8_t *time_weights8;          /* [filters][memory] (int8 state), or NULL */
    const int32_t *bias;                  /* [units] */
} ep_svdf_params;

/* state [batches][filters][memory], updated in place */
void ep_svdf_s8_s16(const ep_svdf_params *p, const int8_t *in, int16_t *state, int8_t *out);
void ep_svdf_s8_s8(const ep_svdf_params *p, const int8_t *in, int8_t *state, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EP_RNN_H */
