"""TFLite's quantization arithmetic, evaluated at generation time exactly as TFLM's Prepare() does.

Every function mirrors one in tensorflow/lite/kernels/internal/quantization_util.cc or a TFLM
kernel's Prepare; the precision (float32 vs double) of each intermediate follows the C++ source,
because a one-ulp difference in a real multiplier can move a rounding boundary and break
bit-exactness.
"""

from __future__ import annotations

import math

import numpy as np


def tflite_round(x: float) -> int:
    """std::round: halves away from zero (Python's round() rounds halves to even)."""
    return int(math.floor(x + 0.5)) if x >= 0 else -int(math.floor(-x + 0.5))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = m * 2^(shift - 31), m in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = tflite_round(q * (1 << 31))
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    return int(q_fixed), int(shift)


def frexp_multiplier(real: float) -> tuple[int, int]:
    """The frexp-only variant TFLM's LOGISTIC and TANH Prepare use (no 2^31 renormalisation)."""
    q, shift = math.frexp(real)
    return int(tflite_round(q * (1 << 31))), int(shift)


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """CalculateInputRadius."""
    max_rescaled = (1.0 * ((1 << integer_bits) - 1) * float(1 << (total_signed_bits - integer_bits))
                    / float(1 << left_shift))
    return int(math.floor(max_rescaled))


def softmax_scaling(beta: float, input_scale: float, integer_bits: int = 5) -> tuple[int, int, int]:
    """PreprocessSoftmaxScaling + diff_min, as TFLM's CalculateSoftmaxParams for int8."""
    real = min(beta * input_scale * float(1 << (31 - integer_bits)), float((1 << 31) - 1))
    mult, shift = quantize_multiplier(real)
    return mult, shift, -input_radius(integer_bits, shift)


def activation_range(fused: int, scale: float, zero_point: int, bits: int = 8) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 (bits=8) or int16 (bits=16); f / scale is a
    float32 division in TFLM."""
    def q(f):
        return zero_point + tflite_round(float(np.float32(f) / np.float32(scale)))
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if fused == 1:      # RELU
        return max(lo, q(0.0)), hi
    if fused == 3:      # RELU6
        return max(lo, q(0.0)), min(hi, q(6.0))
    if fused == 2:      # RELU_N1_TO_1
        return max(lo, q(-1.0)), min(hi, q(1.0))
    return lo, hi


def padding(stride: int, dilation: int, in_size: int, filter_size: int, same: bool) -> tuple[int, int]:
    """(output size, leading pad) as ComputeOutSize + ComputePaddingWithOffset."""
    eff = (filter_size - 1) * dilation + 1
    out = (in_size + stride - 1) // stride if same else (in_size + stride - eff) // stride
    total = max((out - 1) * stride + eff - in_size, 0)
    return out, total // 2


def float32(x: float) -> float:
    return float(np.float32(x))


def checked_log2(x: float) -> tuple[bool, int]:
    """CheckedLog2: (x is a power of two within 1e-3 in the exponent, round(log2 x)), in float32."""
    f = np.float32
    x_log2 = f(np.log(f(x))) * (f(1.0) / f(np.log(f(2.0))))
    rounded = f(tflite_round(float(x_log2)))
    return bool(abs(x_log2 - rounded) < f(1e-3)), int(rounded)


def lut_int16(func, input_min: float, input_max: float, output_min: float, output_max: float) -> list[int]:
    """LUTPopulateInt16<float>: the 513-entry int16 table TFLM interpolates (9 bits of index, 7 of
    slope), every intermediate a float32 as in the C++. func maps a float32 to a float32."""
    f = np.float32
    input_min, input_max, output_min, output_max = f(input_min), f(input_max), f(output_min), f(output_max)
    nb_steps = 512
    step = (input_max - input_min) / f(nb_steps)
    half_step = step / f(2)
    inv = f(65536) / (output_max - output_min)

    def rnd(v):
        return f(tflite_round(float(v)))

    lut = []
    for i in range(nb_steps):
        val = func(input_min + f(i) * step)
        val_mid = func(input_min + f(i) * step + half_step)
        val_next = func(input_min + f(i + 1) * step)
        sample = rnd(val * inv)
        mid_interp = rnd((val_next * inv + rnd(val * inv)) / f(2))
        mid_val = rnd(val_mid * inv)
        bias = rnd((mid_interp - mid_val) / f(2))
        lut.append(int(min(max(sample - bias, f(-32768)), f(32767))))
    lut.append(int(min(max(rnd(func(input_max) * inv), f(-32768)), f(32767))))
    return lut


def _exp_f32(v):
    return np.float32(np.exp(np.float64(v)))


def _one_over_one_plus_x_f32(v):
    return np.float32(1.0) / (np.float32(1.0) + np.float32(v))


def softmax_int16_luts() -> tuple[list[int], list[int]]:
    """The exp and 1/(1+x) tables of TFLM's int16 SOFTMAX Prepare (LUTPopulate<int16_t> with input
    scales 10/65535 and 1/65535, output scale 2/65535)."""
    f = np.float32
    rng = f(65535)
    exp_lut = lut_int16(_exp_f32, (f(10) / rng) * f(-32768 - 32767), (f(10) / rng) * f(0),
                        (f(2) / rng) * f(-32768), (f(2) / rng) * f(32767))
    recip_lut = lut_int16(_one_over_one_plus_x_f32, (f(1) / rng) * f(0), (f(1) / rng) * f(32767 + 32768),
                          (f(2) / rng) * f(-32768), (f(2) / rng) * f(32767))
    return exp_lut, recip_lut
