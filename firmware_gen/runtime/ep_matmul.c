/* BATCH_MATMUL int8 (TFLM reference_ops::BatchMatMul<int8_t, int32_t>): int32 accumulation of
 * offset products, one per-tensor requantization, no fused activation. */
#include "ep_runtime.h"
#include "ep_fixedpoint.h"

#include <stddef.h>

void ep_batch_matmul(const ep_batch_matmul_params *p, const int8_t *lhs, const int8_t *rhs, int8_t *out)
{
    int32_t b0, b1, b2, i, j, k;
    size_t o = 0;
    for (b0 = 0; b0 < p->batch[0]; ++b0) {
        for (b1 = 0; b1 < p->batch[1]; ++b1) {
            for (b2 = 0; b2 < p->batch[2]; ++b2) {
                const int8_t *l = lhs + (size_t)b0 * p->lhs_batch_stride[0] + (size_t)b1 * p->lhs_batch_stride[1] +
                                  (size_t)b2 * p->lhs_batch_stride[2];
                const int8_t *r = rhs + (size_t)b0 * p->rhs_batch_stride[0] + (size_t)b1 * p->rhs_batch_stride[1] +
                                  (size_t)b2 * p->rhs_batch_stride[2];
                for (i = 0; i < p->rows; ++i) {
                    for (j = 0; j < p->cols; ++j) {
                        int32_t acc = 0;
                        for (k = 0; k < p->depth; ++k) {
                            acc += (l[(size_t)i * p->lhs_row_stride + (size_t)k * p->lhs_k_stride] + p->lhs_offset) *
                                   (r[(size_t)k * p->rhs_k_stride + (size_t)j * p->rhs_col_stride] + p->rhs_offset);
                        }
                        out[o++] = (int8_t)ep_clamp(ep_mbqm(acc, p->mult, p->shift) + p->out_offset, -128, 127);
                    }
                }
            }
        }
    }
}
