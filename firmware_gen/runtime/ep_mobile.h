/* Kernels of MobileNetV2/V3-family and common ops (int8, bit-exact with TFLM's reference kernels):
 * standalone activations (RELU, RELU6, RELU_N1_TO_1, HARD_SWISH, LEAKY_RELU, PRELU), MAXIMUM and
 * MINIMUM, TRANSPOSE, RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR, DEQUANTIZE and BATCH_MATMUL.
 * Included by ep_runtime.h; parameters are filled at generation time (firmware_gen/kernels_mobile.py). */
#ifndef EP_MOBILE_H
#define EP_MOBILE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* RELU and RELU_N1_TO_1: requantize, then clamp (TFLM ReluQuantized). */
typedef struct {
    int32_t size, in_zero_point, out_zero_point, mult, shift, act_min, act_max;
} ep_relu_params;

/* RELU6: a clamp of the raw values to [lo, hi] on the input's scale (TFLM Relu6Quantized). */
typedef struct {
    int32_t size, lo, hi;
} ep_clip_params;

/* HARD_SWISH: 16-bit fixed point as reference_ops::HardSwish. */
typedef struct {
    int32_t size, in_zero_point, out_zero_point;
    int32_t out_mult16, out_exponent, reluish_mult16, reluish_exponent;
} ep_hard_swish_params;

/* LEAKY_RELU: one multiplier for x >= 0 (identity) and one for x < 0 (alpha). */
typedef struct {
    int32_t size, in_zero_point, out_zero_point;
    int32_t mult_identity, shift_identity, mult_alpha, shift_alpha;
} ep_leaky_relu_params;

/* PRELU and MAXIMUM/MINIMUM with broadcasting: element strides per NHWC output axis (0 when broadcast). */
typedef struct {
    ep_shape4 out;
    int32_t in_stride[4], alpha_stride[4];
    int32_t in_offset, alpha_offset, out_offset, mult1, shift1, mult2, shift2;
} ep_prelu_params;

typedef struct {
    ep_shape4 out;
    int32_t in1_stride[4], in2_stride[4];
} ep_minmax_params;

/* TRANSPOSE of up to 6 dimensions: output dims (leading 1s) and, per output axis, the input stride. */
typedef struct {
    int32_t dims[6], in_stride[6];
} ep_transpose_params;

/* RESIZE_NEAREST_NEIGHBOR: the input row / column of every output row / column (computed at
 * generation time with TFLM's float32 GetNearestNeighbor). */
typedef struct {
    ep_shape4 in, out;
    const int32_t *rows, *cols;
} ep_resize_nn_params;

/* RESIZE_BILINEAR (ResizeBilinearInteger): for every output row/column the scaled position in
 * 1/1024 units and its lower and upper input neighbours. */
typedef struct {
    ep_shape4 in, out;
    const int32_t *y, *y0, *y1, *x, *x0, *x1;
} ep_resize_bilinear_params;

/* DEQUANTIZE int8 -> float32: out = scale * (q - zero_point), written as float bytes. */
typedef struct {
    int32_t size, zero_point;
    float scale;
} ep_dequantize_params;

/* BATCH_MATMUL: out[b][i][j] = sum_k (lhs[b][i][k] + lhs_offset) * (rhs[b][k][j] + rhs_offset),
 * requantized. Strides (elements) encode broadcasting over up to 3 batch dims and adj_x / adj_y. */
typedef struct {
    int32_t batch[3], lhs_batch_stride[3], rhs_batch_stride[3];
    int32_t rows, cols, depth;
    int32_t lhs_row_stride, lhs_k_stride, rhs_k_stride, rhs_col_stride;
    int32_t lhs_offset, rhs_offset, out_offset, mult, shift;
} ep_batch_matmul_params;

void ep_relu(const ep_relu_params *p, const int8_t *in, int8_t *out);
void ep_clip(const ep_clip_params *p, const int8_t *in, int8_t *out);
void ep_hard_swish(const ep_hard_swish_params *p, const int8_t *in, int8_t *out);
void ep_leaky_relu(const ep_leaky_relu_params *p, const int8_t *in, int8_t *out);
void ep_prelu(const ep_prelu_params *p, const int8_t *in, const int8_t *alpha, int8_t *out);
void ep_dequantize(const ep_dequantize_params *p, const int8_t *in, int8_t *out);
void ep_maximum(const ep_minmax_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void ep_minimum(const ep_minmax_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void ep_transpose(const ep_transpose_params *p, const int8_t *in, int8_t *out);
void ep_resize_nearest(const ep_resize_nn_params *p, const int8_t *in, int8_t *out);
void ep_resize_bilinear(const ep_resize_bilinear_params *p, const int8_t *in, int8_t *out);
void ep_batch_matmul(const ep_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EP_MOBILE_H */
