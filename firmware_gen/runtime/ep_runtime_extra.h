/* edgepipe runtime: SUB, LEAKY_RELU, STRIDED_SLICE and TRANSPOSE_CONV, each for int8 and for
 * int16x8, bit-exact with TFLM's reference kernels. Included by ep_runtime.h. */
#ifndef EP_RUNTIME_EXTRA_H
#define EP_RUNTIME_EXTRA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* LEAKY_RELU int16 (reference_ops::QuantizeLeakyRelu) takes ep_leaky_relu_params of ep_mobile.h,
 * whose int8 kernel is ep_activation2.c's. */
#include "ep_mobile.h"

/* STRIDED_SLICE resolved at generation time to up to 5 dimensions: element (i0..i4) of the output
 * is input element sum((start[d] + i[d] * step[d]) * in_stride[d]); a shrunk axis has count 1. */
typedef struct {
    int32_t count[5], start[5], step[5], in_stride[5];
} ep_strided_slice_params;

/* TRANSPOSE_CONV (reference_integer_ops::TransposeConv), computed as a gather per output element:
 * the same integer sums as TFLM's scatter into its scratch buffer, without the buffer. int8:
 * in_offset = -input zero point, int32 bias; int16: int64 bias, acc32 as ep_conv_s16_params. */
typedef struct {
    ep_shape4 in, out;
    int32_t kh, kw, stride_h, stride_w, pad_h, pad_w;
    int32_t in_offset, out_offset, act_min, act_max, acc32;
    const int8_t *weights;        /* [out_c][kh][kw][in_c] */
    const int32_t *bias32;        /* int8 models (NULL: no bias) */
    const int64_t *bias64;        /* int16x8 models (NULL: no bias) */
    const int32_t *mult;
    const int32_t *shift;
} ep_transpose_conv_params;

void ep_sub(const ep_binary_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void ep_sub_s16(const ep_binary_params *p, const int16_t *in1, const int16_t *in2, int16_t *out);
void ep_leaky_relu_s16(const ep_leaky_relu_params *p, const int16_t *in, int16_t *out);
void ep_strided_slice(const ep_strided_slice_params *p, const int8_t *in, int8_t *out);
void ep_strided_slice_s16(const ep_strided_slice_params *p, const int16_t *in, int16_t *out);
void ep_transpose_conv(const ep_transpose_conv_params *p, const int8_t *in, int8_t *out);
void ep_transpose_conv_s16(const ep_transpose_conv_params *p, const int16_t *in, int16_t *out);

#ifdef __cplusplus
}
#endif

#endif /* EP_RUNTIME_EXTRA_H */
