/* Data-movement and selection ops on int8, bit-exact with TFLM's reference kernels: MAXIMUM and
 * MINIMUM (MaximumMinimumBroadcastSlow: raw values, no requantization), TRANSPOSE (up to 6-D),
 * RESIZE_NEAREST_NEIGHBOR and RESIZE_BILINEAR (ResizeBilinearInteger, 10-bit fixed point). Index
 * maps are computed at generation time; these loops only read them. */
#include "ep_runtime.h"

#include <stddef.h>
#include <string.h>

static void ep_minmax(const ep_minmax_params *p, const int8_t *in1, const int8_t *in2, int8_t *out, int is_max)
{
    int32_t n, h, w, c;
    size_t o = 0;
    for (n = 0; n < p->out.n; ++n) {
        for (h = 0; h < p->out.h; ++h) {
            for (w = 0; w < p->out.w; ++w) {
                for (c = 0; c < p->out.c; ++c) {
                    const int8_t a = in1[n * p->in1_stride[0] + h * p->in1_stride[1] + w * p->in1_stride[2] + c * p->in1_stride[3]];
                    const int8_t b = in2[n * p->in2_stride[0] + h * p->in2_stride[1] + w * p->in2_stride[2] + c * p->in2_stride[3]];
                    out[o++] = is_max ? (a > b ? a : b) : (a < b ? a : b);
                }
            }
        }
    }
}

void ep_maximum(const ep_minmax_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    ep_minmax(p, in1, in2, out, 1);
}

void ep_minimum(const ep_minmax_params *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    ep_minmax(p, in1, in2, out, 0);
}

void ep_transpose(const ep_transpose_params *p, const int8_t *in, int8_t *out)
{
    const int32_t *d = p->dims, *s = p->in_stride;
    int32_t i0, i1, i2, i3, i4, i5;
    size_t o = 0;
    for (i0 = 0; i0 < d[0]; ++i0) {
        for (i1 = 0; i1 < d[1]; ++i1) {
            for (i2 = 0; i2 < d[2]; ++i2) {
                for (i3 = 0; i3 < d[3]; ++i3) {
                    for (i4 = 0; i4 < d[4]; ++i4) {
                        const size_t base = (size_t)i0 * s[0] + (size_t)i1 * s[1] + (size_t)i2 * s[2] +
                                            (size_t)i3 * s[3] + (size_t)i4 * s[4];
                        for (i5 = 0; i5 < d[5]; ++i5) {
                            out[o++] = in[base + (size_t)i5 * s[5]];
                        }
                    }
                }
            }
        }
    }
}

void ep_resize_nearest(const ep_resize_nn_params *p, const int8_t *in, int8_t *out)
{
    const size_t depth = (size_t)p->in.c;
    int32_t n, y, x;
    size_t o = 0;
    for (n = 0; n < p->out.n; ++n) {
        for (y = 0; y < p->out.h; ++y) {
            const int8_t *row = in + ((size_t)n * p->in.h + (size_t)p->rows[y]) * p->in.w * depth;
            for (x = 0; x < p->out.w; ++x) {
                memcpy(out + o, row + (size_t)p->cols[x] * depth, depth);
                o += depth;
            }
        }
    }
}

void ep_resize_bilinear(const ep_resize_bilinear_params *p, const int8_t *in, int8_t *out)
{
    int32_t n, y, x, c;
    size_t o = 0;
    for (n = 0; n < p->out.n; ++n) {
        for (y = 0; y < p->out.h; ++y) {
            const int64_t dy = p->y[y] - (1 << 10) * p->y0[y];
            const int8_t *r0 = in + ((size_t)n * p->in.h + (size_t)p->y0[y]) * p->in.w * p->in.c;
            const int8_t *r1 = in + ((size_t)n * p->in.h + (size_t)p->y1[y]) * p->in.w * p->in.c;
            for (x = 0; x < p->out.w; ++x) {
                const int64_t dx = p->x[x] - (1 << 10) * p->x0[x];
                const size_t c0 = (size_t)p->x0[x] * p->in.c, c1 = (size_t)p->x1[x] * p->in.c;
                for (c = 0; c < p->out.c; ++c) {
                    const int64_t v = (int64_t)r0[c0 + c] * ((1 << 10) - dy) * ((1 << 10) - dx) +
                                      (int64_t)r1[c0 + c] * dy * ((1 << 10) - dx) +
                                      (int64_t)r0[c1 + c] * ((1 << 10) - dy) * dx +
                                      (int64_t)r1[c1 + c] * dy * dx;
                    const int64_t round = v > 0 ? (1 << 19) : -(1 << 19);
                    out[o++] = (int8_t)((v + round) / (1 << 20));
                }
            }
        }
    }
}
