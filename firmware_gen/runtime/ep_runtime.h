/* edgepipe runtime: portable C99 int8 kernels, bit-exact with TFLM's reference kernels.
 *
 * Generated model files (<prefix>_model.c) hold only data (weights, parameter structs filled with
 * designated initializers, the arena) and calls into these kernels; every requantization multiplier
 * and shift is computed at generation time with TFLite's QuantizeMultiplier arithmetic. */
#ifndef EP_RUNTIME_H
#define EP_RUNTIME_H

#include <stdint.h>

#define EP_ENGINE_VERSION "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* NHWC shape; lower-rank tensors are extended with leading 1s, as TFLM's RuntimeShape does. */
typedef struct {
    int32_t n, h, w, c;
} ep_shape4;

/* CONV_2D and DEPTHWISE_CONV_2D. mult/shift hold one entry per output channel (TFLM always
 * expands per-tensor filter scales to per-channel multipliers for convolutions). */
typedef struct {
    ep_shape4 in, out;
    int32_t kh, kw, filter_in_c, depth_multiplier;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t in_offset, out_offset, act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;          /* NULL when the layer has no bias */
    const int32_t *mult;
    const int32_t *shift;
    /* per output channel: bias + in_offset * (sum of the channel's weights), int32 wrapping; the
     * SIMD kernels that fold the input offset out of their loops start from it. NULL: not given
     * (those kernels then fall back to the loops that add the offset). */
    const int32_t *kernel_sums;
    /* CONV_2D with few input channels, Cortex-M4/M7 builds only (NULL elsewhere): per pair of
     * filters the doubled biases, the filters widened to doubled int16 pairs in the stem kernel's
     * order, the multipliers, right shifts and rounding offsets (firmware_gen/stem.py) */
    const int32_t *stem_weights;
    /* CONV_2D on Cortex-M4/M7 (EP_KERNELS_DSP builds only, NULL elsewhere and where the layer does
     * not qualify): weights, bias and requantization as one word stream, firmware_gen/dsp_layout.py */
    const int32_t *dsp_weights;
} ep_conv_params;

/* FULLY_CONNECTED. per_channel = 0: mult[0]/shift[0] for every output (TFLM's per-tensor path). */
typedef struct {
    int32_t batches, accum_depth, out_depth, per_channel;
    int32_t in_offset, weights_offset, out_offset, act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
} ep_fc_params;

/* AVERAGE_POOL_2D and MAX_POOL_2D. */
typedef struct {
    ep_shape4 in, out;
    int32_t kh, kw, stride_h, stride_w, pad_h, pad_w, act_min, act_max;
} ep_pool_params;

/* ADD and MUL with broadcasting: in1_stride/in2_stride are element strides per NHWC output axis
 * (0 on a broadcast axis). ADD uses TFLM's left_shift = 20 rescaling; MUL uses only out_mult/shift. */
typedef struct {
    ep_shape4 out;
    int32_t in1_stride[4], in2_stride[4];
    int32_t in1_offset, in2_offset, out_offset, left_shift;
    int32_t in1_mult, in1_shift, in2_mult, in2_shift, out_mult, out_shift;
    int32_t act_min, act_max;
} ep_binary_params;

/* SOFTMAX (int8 in, int8 out: gemmlowp fixed-point path of reference_ops::Softmax). */
typedef struct {
    int32_t outer, depth, input_multiplier, input_left_shift, diff_min;
} ep_softmax_params;

/* LOGISTIC and TANH (int8: gemmlowp fixed point, input in Q4.27). */
typedef struct {
    int32_t size, input_zero_point, input_range_radius, input_multiplier, input_left_shift;
} ep_sigmoid_params;

/* QUANTIZE int8 -> int8 (reference_ops::Requantize). */
typedef struct {
    int32_t size, in_zero_point, out_zero_point, mult, shift;
} ep_requant_params;

/* PAD / PADV2 on up to 4 dimensions. */
typedef struct {
    ep_shape4 in, out;
    int32_t before[4];
    int32_t pad_value;
} ep_pad_params;

/* MEAN over H and W of a 4-D tensor. mode selects the TFLM code path (see ep_pool.c). */
typedef struct {
    ep_shape4 in;
    int32_t mode, in_zero_point, out_zero_point, mult, shift;
} ep_mean_params;

/* CONCATENATION: plain copies, like TFLM's int8 kernel (it requires matching quantization). */
typedef struct {
    int32_t outer, num_inputs;
    const int32_t *inner;          /* bytes each input contributes per outer step */
} ep_concat_params;

enum { EP_MEAN_SAME_SCALE = 1, EP_MEAN_REQUANTIZE = 2 };

/* Binarized ops (Larq Compute Engine's LceQuantize / LceBconv2d / LceDequantize, see ep_binary.c).
 * A bit-packed tensor holds, per row of `channels` values, `words` 32-bit words: channel c is bit
 * c % 32 of word c / 32, 1 for a negative value (-1), 0 for a positive one (+1). */
typedef struct {
    int32_t outer, channels, words, zero_point;   /* int8 -> packed: bit = x < zero_point */
} ep_bitpack_params;

typedef struct {
    int32_t outer, channels, words, zero_value, one_value;   /* packed -> int8 */
} ep_unpack_params;

/* Binary convolution: in.c / out.c are unpacked channel counts; weights are packed
 * [out.c][kh][kw][in_words]. Padded taps read +1 (one-padding). int8 output (bitpacked_out = 0):
 * saturate(round(float(backtransform - 2 * popcount) * mult[c] + bias[c])); packed output:
 * bit c = popcount > thresholds[c]. */
typedef struct {
    ep_shape4 in, out;
    int32_t in_words, out_words, kh, kw, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t backtransform, bitpacked_out;
    const int32_t *weights;
    const float *mult;
    const float *bias;
    const int32_t *thresholds;
} ep_bconv_params;

void ep_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out);
void ep_depthwise_conv2d(const ep_conv_params *p, const int8_t *in, int8_t *out);
void ep_fully_connected(const ep_fc_params *p, const int8_t *in, int8_t *out);
void ep_avg_pool(const ep_pool_params *p, const int8_t *in, int8_t *out);
void ep_max_pool(const ep_pool_params *p, const int8_t *in, int8_t *out);
void ep_mean(const ep_mean_params *p, const int8_t *in, int8_t *out);
void ep_add(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void ep_mul(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void ep_requantize(const ep_requant_params *p, const int8_t *in, int8_t *out);
void ep_requantize_u8(const ep_requant_params *p, const int8_t *in, int8_t *out);
void ep_pad(const ep_pad_params *p, const int8_t *in, int8_t *out);
void ep_concat(const ep_concat_params *p, const int8_t *const *ins, int8_t *out);
void ep_softmax(const ep_softmax_params *p, const int8_t *in, int8_t *out);
void ep_logistic(const ep_sigmoid_params *p, const int8_t *in, int8_t *out);
void ep_tanh(const ep_sigmoid_params *p, const int8_t *in, int8_t *out);
void ep_bitpack(const ep_bitpack_params *p, const int8_t *in, int8_t *out);
void ep_unpack(const ep_unpack_params *p, const int8_t *in, int8_t *out);
void ep_bconv2d(const ep_bconv_params *p, const int8_t *in, int8_t *out);

#ifdef __cplusplus
}
#endif

#include "ep_mobile.h"   /* MobileNet-family and common ops (ep_activation2.c, ep_shape.c, ep_matmul.c) */
#include "ep_runtime_s16.h"   /* int16x8 kernels (int16 activations, int8 weights) */
#include "ep_runtime_extra.h" /* SUB, LEAKY_RELU, STRIDED_SLICE, TRANSPOSE_CONV (int8 and int16x8) */
#include "ep_rnn.h"           /* UNIDIRECTIONAL_SEQUENCE_LSTM and SVDF (ep_rnn.c) */
#include "ep_state.h"          /* persistent state: resource variables, CALL_ONCE, variable tensors */

#endif /* EP_RUNTIME_H */
