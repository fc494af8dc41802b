"""A stand-in for firmware_gen.codegen.generate, used by the board tests while (or if) the real
generated engine is not available: int8 FULLY_CONNECTED chains only (TFLM hello_world), with the
same header contract (<PREFIX>_INPUT_BYTES ... <prefix>_invoke, EP_ENGINE_VERSION) and TFLM's
integer arithmetic (QuantizeMultiplier + MultiplyByQuantizedMultiplier, double rounding), so its
outputs are compared bit-exactly with TFLM like the real engine's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import tflite_file

ENGINE_VERSION = "standin-fc-1"


@dataclass
class StandinEngine:
    c_path: Path
    h_path: Path
    runtime_sources: list[Path]
    include_dirs: list[Path]
    arena_bytes: int
    macs: int
    input_shape: tuple
    output_shape: tuple
    extra: dict = field(default_factory=dict)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLM QuantizeMultiplier: real = q * 2^shift with q in [0.5, 1) as Q31."""
    if real == 0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(round(q * (1 << 31)))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


RUNTIME_C = r"""/* stand-in engine runtime: TFLM reference FULLY_CONNECTED int8 arithmetic */
#include "ep_standin_runtime.h"

static int32_t srdhm(int32_t a, int32_t b) {
    if (a == b && a == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? (1ll << 30) : (1 - (1ll << 30));
    return (int32_t)((ab + nudge) / (1ll << 31));
}

static int32_t rdbpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)((1ll << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

static int32_t mbqm(int32_t x, int32_t mult, int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    return rdbpot(srdhm((int32_t)((uint32_t)x << left), mult), right);
}

void ep_standin_fc(const ep_standin_fc_t *p, const int8_t *in, int8_t *out) {
    for (int o = 0; o < p->out_features; o++) {
        int32_t acc = p->bias ? p->bias[o] : 0;
        const int8_t *w = p->weights + o * p->in_features;
        for (int i = 0; i < p->in_features; i++) acc += ((int32_t)in[i] - p->in_zp) * w[i];
        int c = p->per_channel ? o : 0;
        acc = mbqm(acc, p->mult[c], p->shift[c]) + p->out_zp;
        if (acc < p->act_min) acc = p->act_min;
        if (acc > p->act_max) acc = p->act_max;
        out[o] = (int8_t)acc;
    }
}
"""

RUNTIME_H = f"""#ifndef EP_STANDIN_RUNTIME_H
#define EP_STANDIN_RUNTIME_H
#include <stdint.h>
#define EP_ENGINE_VERSION "{ENGINE_VERSION}"
typedef struct {{
    int in_features, out_features, per_channel;
    int32_t in_zp, out_zp, act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
}} ep_standin_fc_t;
void ep_standin_fc(const ep_standin_fc_t *p, const int8_t *in, int8_t *out);
#endif
"""


def _arr(values) -> str:
    return "{" + ", ".join(str(int(v)) for v in np.asarray(values).ravel()) + "}"


def generate(tflite_path, out_dir, prefix: str = "ep") -> StandinEngine:
    model = tflite_file.read(tflite_path)
    sg = model.main
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    P = prefix.upper()
    body, layers, macs, width = [], [], 0, []
    for n, op in enumerate(sg.operators):
        assert op.opcode == "FULLY_CONNECTED", f"stand-in engine handles FULLY_CONNECTED only, not {op.opcode}"
        x, w, b = (sg.tensors[i] if i >= 0 else None for i in op.inputs[:3])
        y = sg.tensors[op.outputs[0]]
        W = model.constant(w)
        out_f, in_f = W.shape
        scales = np.array(w.scale, dtype=np.float64)
        mults, shifts = zip(*(quantize_multiplier(float(np.float32(x.scale[0]) * np.float32(s)) /
                                                  float(np.float32(y.scale[0])))
                              for s in scales))
        # TFLM: effective scale = double(input_scale * filter_scale) / double(output_scale)
        fused = op.builtin_options.fusedActivationFunction if op.builtin_options else 0
        act_min = max(-128, y.zero_point[0]) if fused == 1 else -128
        body.append(f"static const int8_t {prefix}_w{n}[] = {_arr(W)};")
        if b is not None:
            body.append(f"static const int32_t {prefix}_b{n}[] = {_arr(model.constant(b))};")
        body.append(f"static const int32_t {prefix}_m{n}[] = {_arr(mults)};")
        body.append(f"static const int32_t {prefix}_s{n}[] = {_arr(shifts)};")
        bias = f"{prefix}_b{n}" if b is not None else "0"
        body.append(
            f"static const ep_standin_fc_t {prefix}_l{n} = {{ {in_f}, {out_f}, {int(len(scales) > 1)}, "
            f"{x.zero_point[0]}, {y.zero_point[0]}, {act_min}, 127, {prefix}_w{n}, {bias}, "
            f"{prefix}_m{n}, {prefix}_s{n} }};")
        layers.append((n, in_f, out_f))
        width.append(out_f)
        macs += in_f * out_f
    buf = max([layers[0][1], *width])
    inp, outp = sg.tensors[sg.inputs[0]], sg.tensors[sg.outputs[0]]
    in_bytes, out_bytes = int(np.prod(inp.shape)), int(np.prod(outp.shape))
    calls = []
    src = "input"
    for k, (n, in_f, out_f) in enumerate(layers):
        dst = "output" if k == len(layers) - 1 else f"{prefix}_arena + {(k % 2) * buf}"
        calls.append(f"    ep_standin_fc(&{prefix}_l{n}, {src}, {dst});")
        src = f"{prefix}_arena + {(k % 2) * buf}"
    arena = 2 * buf
    h = out_dir / f"{prefix}_model.h"
    c = out_dir / f"{prefix}_model.c"
    h.write_text(f"""/* generated from {Path(tflite_path).name} sha256={model.sha256} by the stand-in engine; do not edit */
#ifndef {P}_MODEL_H
#define {P}_MODEL_H
#include <stdint.h>
#include "ep_standin_runtime.h"
#define {P}_INPUT_BYTES {in_bytes}u
#define {P}_OUTPUT_BYTES {out_bytes}u
#define {P}_ARENA_BYTES {arena}u
#define {P}_MACS {macs}u
#define {P}_MODEL_SHA256 "{model.sha256}"
#define {P}_INPUT_SCALE {inp.scale[0]!r}f
#define {P}_INPUT_ZERO_POINT {inp.zero_point[0]}
#define {P}_OUTPUT_SCALE {outp.scale[0]!r}f
#define {P}_OUTPUT_ZERO_POINT {outp.zero_point[0]}
int {prefix}_invoke(const int8_t *input, int8_t *output);
#endif
""")
    c.write_text(f"""/* generated from {Path(tflite_path).name} by the stand-in engine; do not edit */
#include "{prefix}_model.h"
{chr(10).join(body)}
static int8_t {prefix}_arena[{arena}] __attribute__((aligned(16)));
int {prefix}_invoke(const int8_t *input, int8_t *output) {{
{chr(10).join(calls)}
    return 0;
}}
""")
    rt_c = out_dir / "ep_standin_runtime.c"
    rt_c.write_text(RUNTIME_C)
    (out_dir / "ep_standin_runtime.h").write_text(RUNTIME_H)
    return StandinEngine(c_path=c, h_path=h, runtime_sources=[rt_c], include_dirs=[out_dir],
                         arena_bytes=arena, macs=macs, input_shape=tuple(inp.shape),
                         output_shape=tuple(outp.shape))
