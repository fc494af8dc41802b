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
