"""Speed or flash for the tables some kernels get at generation time (`codegen.generate(layout=)`,
`edgepipe bench/run/export --layout`, `make <board> LAYOUT=`).

- "speed" (the default): each kernel its fastest table. On Cortex-M4/M7 (DSP builds) a CONV_2D
  layer with >= dsp_layout.INT16_MIN_PIXELS output pixels keeps its weights as int16 in the DSP
  conv stream (one more byte of flash per weight than int8).
- "size": no int16 weights: the DSP conv stream in its int8 format for every layer that qualifies
  (as many weight bytes as the int8 weights it replaces, plus 20 bytes per output channel of bias
  and requantization words).
In both, a few-input-channel conv (stem.py: KWS's first conv, 3x3x3 image stems) gets the stem
kernel's widened filters beside its int8 weights: a few KiB at most, far more speed per byte than
the int16 streams (README.md has the measured flash and instructions of both layouts).

Only DSP builds differ: every other core, the portable kernels and host-c compile neither table.
"""

from __future__ import annotations

from edgepipe_base.errors import UnknownName

SPEED, SIZE = "speed", "size"
LAYOUTS = (SPEED, SIZE)
DEFAULT = SPEED
HELP = ("speed: the fastest Cortex-M4/M7 kernel tables (int16 conv weights where a layer has enough "
        "output pixels: more flash); size: int8 conv weights (less flash, slower on M4/M7; other cores "
        "are unchanged). Default: speed")


def check(layout: str) -> str:
    if layout not in LAYOUTS:
        raise UnknownName("layout", layout, LAYOUTS)
    return layout
