"""Speed or flash for the tables some kernels get at generation time (`codegen.generate(layout=)`,
`edgepipe bench/run/export --layout`, `make <board> LAYOUT=`).

- "speed" (the default): each kernel its fastest table. On Cortex-M4/M7 (DSP builds) a CONV_2D
  layer with >= dsp_layout.INT16_MIN_PIXELS output pixels keeps its weights as int16 in the DSP
  conv stream (one more byte of flash per weight than int8), and a few-input-channel conv (stem.py:
  KWS's first conv, 3x3x3 image stems) gets the stem kernel's widened filters beside its int8 weights.
- "size": no table that grows flash beyond the model's int8 weights: the DSP conv stream in its
  int8 format for every layer that qualifies (as many weight bytes as the int8 weights it replaces,
  plus 20 bytes per output channel of bias and requantization words), and no stem table (those
  layers take the DSP paths that read the int8 weights).

Only DSP builds differ: every other core, the portable kernels and host-c compile neither table.
"""

from __future__ import annotations

from edgepipe_base.errors import UnknownName

SPEED, SIZE = "speed", "size"
LAYOUTS = (SPEED, SIZE)
DEFAULT = SPEED
HELP = ("speed: the fastest Cortex-M4/M7 kernel tables (int16 conv weights where a layer has enough "
        "output pixels, the stem kernel's widened filters: more flash); size: keep int8 weights, no "
        "widened copies (less flash, slower on M4/M7; other cores are unchanged). Default: speed")


def check(layout: str) -> str:
    if layout not in LAYOUTS:
        raise UnknownName("layout", layout, LAYOUTS)
    return layout
