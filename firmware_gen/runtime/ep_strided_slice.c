/* STRIDED_SLICE for int8 and int16: a strided copy; begin/end/strides and the masks are resolved at
 * generation time (firmware_gen/kernels_extra.py), so only in-range indices reach this loop. */
#include "ep_runtime.h"

#include <stddef.h>

#define EP_SLICE_LOOP(T)                                                                           \
    do {                                                                                           \
        int32_t a, b, c, d, e;                                                                     \
        size_t o = 0;                                                                              \
        for (a = 0; a < p->count[0]; ++a) {                                                        \
            const size_t ia = (size_t)(p->start[0] + a * p->step[0]) * (size_t)p->in_stride[0];    \
            for (b = 0; b < p->count[1]; ++b) {                                                    \
                const size_t ib = ia + (size_t)(p->start[1] + b * p->step[1]) * (size_t)p->in_stride[1]; \
                for (c = 0; c < p->count[2]; ++c) {                                                \
                    const size_t ic = ib + (size_t)(p->start[2] + c * p->step[2]) * (size_t)p->in_stride[2]; \
                    for (d = 0; d < p->count[3]; ++d) {                                            \
                        const size_t id = ic + (size_t)(p->start[3] + d * p->step[3]) * (size_t)p->in_stride[3]; \
                        for (e = 0; e < p->count[4]; ++e) {                                        \
                            out[o++] = in[id + (size_t)(p->start[4] + e * p->step[4])];            \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    } while (0)

void ep_strided_slice(const ep_strided_slice_params *p, const int8_t *in, int8_t *out)
{
    EP_SLICE_LOOP(int8_t);
}

void ep_strided_slice_s16(const ep_strided_slice_params *p, const int16_t *in, int16_t *out)
{
    EP_SLICE_LOOP(int16_t);
}
