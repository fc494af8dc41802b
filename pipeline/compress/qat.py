"""Quantization-aware training (tfmot): `qat`, pruning-preserving `prune_qat`, and `distill_qat`.

The saved model is the quantize-wrapped Keras model: the converter reads its fake-quant ranges and
produces the int8 model. `prune_qat` uses tfmot's collaborative optimization scheme
(Default8BitPrunePreserveQuantizeScheme) so the zeros of `prune75` survive the fine-tune.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..artifacts import keras_params, load_keras
from edgepipe_base.errors import EdgepipeError
from ..keras_env import set_seed
from . import fine_tune, fine_tune_config, register, save_variant, weights

_UNSUPPORTED = re.compile(r"Layer (\S+?):(\S+) is not supported")


def quantize(model, scheme=None, where: str = "model"):
    """Wrap `model` for QAT; a layer tfmot cannot quantize becomes a one-line EdgepipeError naming it."""
    import tensorflow_model_optimization as tfmot
    q = tfmot.quantization.keras
    try:
        annotated = q.quantize_annotate_model(model)
        return q.quantize_apply(annotated, scheme) if scheme is not None else q.quantize_apply(annotated)
    except (RuntimeError, ValueError) as exc:
        m = _UNSUPPORTED.search(str(exc))
        what = f"layer '{m.group(1)}' ({m.group(2).split('.')[-1].rstrip('>')})" if m else str(exc).splitlines()[0]
        raise EdgepipeError(f"{where}: quantization-aware training cannot quantize {what}; replace the "
                            "layer in the recipe or annotate it with a QuantizeConfig") from None


def qat(start_path: Path, recipe, data, out: Path, name: str, scheme=None, extra_meta=None):
    params = recipe.params("qat")
    cfg, epochs = fine_tune_config(recipe.train, params, default_epochs=1)
    set_seed(cfg["seed"])
    start = load_keras(start_path)
    model = quantize(start, scheme, where=f"{recipe.name} ({name})")
    fine_tune(model, data, cfg, epochs)
    kern = weights.kernels(model)
    overall, per_layer = weights.sparsity(kern)
    meta = {"epochs": epochs, "quantized_model_params": keras_params(model), "sparsity": round(overall, 4),
            "sparsity_per_layer": {n: round(v, 4) for n, v in per_layer.items()}, **(extra_meta or {})}
    # .h5: a .keras file of a quantize-wrapped model does not load back (quantize_layer variables)
    return save_variant(model, name, out, data, meta, filename="model.h5",
                        params=keras_params(start))


@register("qat", kind="quantization-aware int8", section="qat")
def run_qat(base, recipe, data, out: Path, inputs: dict):
    return qat(base.path, recipe, data, out, "qat", extra_meta={"float_test_accuracy": base.test_accuracy})


@register("prune_qat", kind="pruned 75% + QAT int8", section="qat", needs=("prune75",))
def run_prune_qat(base, recipe, data, out: Path, inputs: dict):
    import tensorflow_model_optimization as tfmot
    pruned = inputs["prune75"]
    scheme = tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
    result = qat(pruned.path, recipe, data, out, "prune_qat", scheme=scheme,
                 extra_meta={"sparsity_before_qat": pruned.meta.get("sparsity")})
    before, after = pruned.meta.get("sparsity", 0.0), result.meta["sparsity"]
    if after < before - 0.01:
        raise EdgepipeError(f"{recipe.name} (prune_qat): sparsity fell from {before:.3f} to {after:.3f} "
                            "during quantization-aware training")
    return result


@register("distill_qat", kind="distilled student + QAT int8", section="qat", needs=("distill",))
def run_distill_qat(base, recipe, data, out: Path, inputs: dict):
    student = inputs["distill"]
    return qat(student.path, recipe, data, out, "distill_qat",
               extra_meta={k: student.meta[k] for k in ("teacher_params", "student_params") if k in student.meta})
