"""The one exception a user can cause.

Anything raised as `EdgepipeError` is printed by the CLI as a single line (what, where, what to do)
and turned into a non-zero exit code; anything else is a bug in edgepipe and keeps its traceback.
"""


class EdgepipeError(Exception):
    """A problem with the user's input or environment, explained in one line."""

    exit_code = 2


class UnknownName(EdgepipeError):
    """A model, dataset, variant, target or board name that is not registered."""

    def __init__(self, kind: str, name: str, valid):
        valid = sorted(valid)
        super().__init__(f"unknown {kind} '{name}'; valid {kind}s: {', '.join(valid) or '(none)'}")
        self.kind, self.name, self.valid = kind, name, valid


def wrap_stage_failure(where: str, what: str, exc: BaseException) -> EdgepipeError:
    """A third-party library (TensorFlow, tfmot, larq) failing inside a stage, as one line.

    Set EDGEPIPE_DEBUG=1 to see the original traceback instead."""
    first = (str(exc).strip().splitlines() or [""])[0][:240]
    return EdgepipeError(f"{where}: {what} failed with {type(exc).__name__}: {first}; "
                         "check the recipe (or rerun with EDGEPIPE_DEBUG=1 for the traceback)")
