"""docs/SUPPORTED.md: what the C engine runs and the deployability rules, from their registries.

Both halves come from code (the kernel table in firmware_gen/kernels.py, the preflight rules'
docstrings), so the document cannot drift from what edgepipe does. `edgepipe docs` rewrites it.
"""

from __future__ import annotations

from pathlib import Path

SUPPORTED_MD = Path(__file__).resolve().parent.parent / "docs" / "SUPPORTED.md"


def supported_md() -> str:
    from firmware_gen import kernels

    from . import preflight
    return (kernels.supported_md()
            + "\n## Deployability rules (preflight)\n\n"
            + "Every variant is checked before it is built for a board; a variant that fails a rule is\n"
            + "still benchmarked on the host and shown as not deployable, with the rule's message:\n\n"
            + preflight.rules_markdown() + "\n")


def write(path: Path = SUPPORTED_MD) -> Path:
    from edgepipe_base.atomic import write_atomic
    write_atomic(path, supported_md())
    return path
