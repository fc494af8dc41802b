"""Model recipes: one Python file per model under models/ (architecture + training recipe).

A recipe file has a docstring (shown by `edgepipe models`), a `RECIPE` dict and a
`build(input_shape, num_classes, **arch)` function returning an uncompiled tf-keras model.
`RECIPE` names the dataset, the training hyper-parameters, the architecture knobs of the teacher
(`arch`) and of a smaller student (`student`), and the parameters of each compression
(`compress`). Optional `build_binary(...)` gives the binarized (larq) form of the architecture.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from edgepipe_base.errors import EdgepipeError, UnknownName

MODELS_DIR = Path(os.environ.get("EDGEPIPE_MODELS", Path(__file__).resolve().parent.parent / "models"))

TRAIN_DEFAULTS = {"epochs": 10, "batch_size": 64, "optimizer": "adam", "learning_rate": 1e-3,
                  "patience": 3, "seed": 42}


@dataclass(frozen=True)
class Recipe:
    name: str
    doc: str
    dataset: str
    path: str
    source_sha256: str                       # the recipe's functions: editing them invalidates models
    train: dict = field(default_factory=dict)
    arch: dict = field(default_factory=dict)
    student: dict = field(default_factory=dict)
    compress: dict = field(default_factory=dict)
    module: ModuleType | None = field(default=None, repr=False, compare=False)

    def build(self, input_shape, num_classes, **overrides):
        """Build the model (teacher architecture, or `overrides` such as the student's)."""
        kwargs = {**self.arch, **overrides}
        try:
            return self.module.build(tuple(input_shape), num_classes, **kwargs)
        except EdgepipeError:
            raise
        except Exception as exc:
            raise EdgepipeError(f"{self.path}: build() raised {type(exc).__name__}: {exc}; "
                                "fix the recipe's architecture") from None

    def register_layers(self) -> None:
        """Run the recipe's optional `custom_objects()`, which registers its custom Keras layers: a
        run whose training stage is cached loads the saved model without ever calling build()."""
        fn = getattr(self.module, "custom_objects", None)
        if callable(fn):
            fn()

    def not_applicable(self) -> dict:
        """Variants that cannot apply to this recipe (its optional NOT_APPLICABLE: name -> reason)."""
        return dict(getattr(self.module, "NOT_APPLICABLE", {}) or {})

    def params(self, section: str) -> dict:
        """Parameters of one compression (`compress[section]`), {} when the recipe sets none."""
        return dict(self.compress.get(section, {}))


def available(models_dir: Path = MODELS_DIR) -> list[str]:
    return sorted(p.stem for p in models_dir.glob("*.py") if not p.name.startswith("_"))


def load(name: str, models_dir: Path = MODELS_DIR) -> Recipe:
    path = models_dir / f"{name}.py"
    if not path.exists():
        raise UnknownName("model", name, available(models_dir))
    source = path.read_bytes()
    spec = importlib.util.spec_from_file_location(f"edgepipe_models.{name}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise EdgepipeError(f"{path}: importing the recipe raised {type(exc).__name__}: {exc}") from None
    recipe = getattr(module, "RECIPE", None)
    if not isinstance(recipe, dict) or not callable(getattr(module, "build", None)):
        raise EdgepipeError(f"{path}: a recipe needs a RECIPE dict and a build() function")
    if "dataset" not in recipe:
        raise EdgepipeError(f"{path}: RECIPE has no 'dataset'")
    unknown = set(recipe) - {"dataset", "train", "arch", "student", "compress"}
    if unknown:
        raise EdgepipeError(f"{path}: RECIPE has unknown keys {sorted(unknown)}; valid keys: "
                            "dataset, train, arch, student, compress")
    # models depend on the recipe's code (build, build_binary, helpers); the RECIPE dict's sections are
    # keyed by the stages that read them, so tuning a compression knob does not retrain the base model
    try:
        funcs = sorted((n, f) for n, f in vars(module).items()
                       if inspect.isfunction(f) and f.__module__ == module.__name__)
        build_source = b"".join(inspect.getsource(f).encode() for _, f in funcs)
    except (OSError, TypeError):
        build_source = source
    return Recipe(name=name, doc=(module.__doc__ or "").strip(), dataset=recipe["dataset"],
                  path=str(path), source_sha256=hashlib.sha256(build_source).hexdigest(),
                  train={**TRAIN_DEFAULTS, **recipe.get("train", {})}, arch=dict(recipe.get("arch", {})),
                  student=dict(recipe.get("student", {})), compress=dict(recipe.get("compress", {})),
                  module=module)
