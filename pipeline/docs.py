"""docs/SUPPORTED.md: what the C engine runs and the deployability rules, from their registries.

Every part comes from code (the kernel table in firmware_gen/kernels.py, the validator's rules,
the preflight rules' docstrings), so the document cannot drift from what edgepipe does. `edgepipe docs` rewrites it.
"""

from __future__ import annotations

from pathlib import Path

SUPPORTED_MD = Path(__file__).resolve().parent.parent / "docs" / "SUPPORTED.md"


def supported_md() -> str:
    from edgepipe_base import validate
    from firmware_gen import kernels

    from . import preflight
    rules = "\n".join(f"- **{name}**: {text}." for name, text in validate.RULES.items())
    return (kernels.supported_md()
            + "\n## Model rules (validator)\n\n"
            + "Every .tflite is validated right after it is read, before anything is generated from it\n"
            + "(`edgepipe_base/validate.py`); a model that breaks a rule is refused with one line naming the\n"
            + "rule, the operator, its layer and the tensor. What passes, the C kernels handle in bounds:\n\n"
            + rules + "\n"
            + "\n## Deployability rules (preflight)\n\n"
            + "Every variant is checked before it is built for a board; a variant that fails a rule is\n"
            + "still benchmarked on the host and shown as not deployable, with the rule's message:\n\n"
            + preflight.rules_markdown() + "\n")


def write(path: Path = SUPPORTED_MD) -> Path:
    from edgepipe_base.atomic import write_atomic
    write_atomic(path, supported_md())
    return path
