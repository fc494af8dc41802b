/* edgepipe runtime, int16x8 kernels: int16 activations (zero point 0), int8 weights, int64 bias,
 * bit-exact with TFLM's reference kernels for int16. Included by ep_runtime.h; the int8 kernels and
 * their parameter structs are there, and the int16 kernels reuse the structs whose fields mean
 * the same (pool, mean, binary, requantize, pad). */
#ifndef EP_RUNTIME_S16_H
#define EP_RUNTIME_S16_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CONV_2D and DEPTHWISE_CONV_2D with int16 input and output (reference_integer_ops::ConvPerChannel
 * / DepthwiseConvPerChannel for int16). acc32 = 0: int64 accumulator and TFLM's 64-bit
 * MultiplyByQuantizedMultiplier (reduced 16-bit multiplier), the int64-bias path; acc32 = 1: int32
 * accumulator and the 32-bit requantization (an int32 bias). */
typedef struct {
    ep_shape4 in, out;
    int32_t kh, kw, filter_in_c, depth_multiplier;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t act_min, act_max, acc32;
    const int8_t *weights;
    const int64_t *bias;          /* NULL when the layer has no bias; int32 biases are widened */
    const int32_t *mult;
    const int32_t *shift;
} ep_conv_s16_params;

/* FULLY_CONNECTED with int16 input and output. per_channel = 0: mult[0]/shift[0] for every output
 * and weights_offset applied (TFLM's per-tensor FullyConnected). acc32 as for convolutions: 1 for
 * an int32 bias (FullyConnected<int32_t>), 0 for an int64 bias or none (int64 accumulator). */
typedef struct {
    int32_t batches, accum_depth, out_depth, per_channel;
    int32_t weights_offset, act_min, act_max, acc32;
    const int8_t *weights;
    const int64_t *bias;
    const int32_t *mult;
    const int32_t *shift;
} ep_fc_s16_params;

/* SOFTMAX int16 -> int16 (reference_ops::SoftmaxInt16): the two 513-entry lookup tables TFLM builds
 * in Prepare are computed at generation time. */
typedef struct {
    int32_t outer, depth, input_multiplier, input_left_shift;
    const int16_t *exp_lut;
    const int16_t *one_over_one_plus_x_lut;
} ep_softmax_s16_params;

/* LOGISTIC and TANH int16 (reference_integer_ops::Logistic / Tanh for int16): the input is
 * rescaled by (x * input_multiplier + round) >> input_left_shift, then the shared sigmoid table is
 * interpolated. Power-of-two scales are resolved at generation (multiplier 3 << shift, shift 0). */
typedef struct {
    int32_t size, input_multiplier, input_left_shift;
} ep_sigmoid_s16_params;

void ep_conv2d_s16(const ep_conv_s16_params *p, const int16_t *in, int16_t *out);
void ep_depthwise_conv2d_s16(const ep_conv_s16_params *p, const int16_t *in, int16_t *out);
void ep_fully_connected_s16(const ep_fc_s16_params *p, const int16_t *in, int16_t *out);
void ep_avg_pool_s16(const ep_pool_params *p, const int16_t *in, int16_t *out);
void ep_max_pool_s16(const ep_pool_params *p, const int16_t *in, int16_t *out);
void ep_mean_s16(const ep_mean_params *p, const int16_t *in, int16_t *out);
void ep_add_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);
void ep_mul_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);
void ep_requantize_s16(const ep_requant_params *p, const int16_t *in, int16_t *out);
void ep_requantize_s16_s8(const ep_requant_params *p, const int16_t *in, int8_t *out);
void ep_requantize_s8_s16(const ep_requant_params *p, const int8_t *in, int16_t *out);
void ep_pad_s16(const ep_pad_params *p, const int16_t *in, int16_t *out);
void ep_concat_s16(const ep_concat_params *p, const int16_t *const *ins, int16_t *out);
void ep_softmax_s16(const ep_softmax_s16_params *p, const int16_t *in, int16_t *out);
void ep_logistic_s16(const ep_sigmoid_s16_params *p, const int16_t *in, int16_t *out);
void ep_tanh_s16(const ep_sigmoid_s16_params *p, const int16_t *in, int16_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EP_RUNTIME_S16_H */
