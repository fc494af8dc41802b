"""Magnitude pruning (tfmot): `prune75` to the recipe's target sparsity, `prune24` to 2:4 structure.

The model is fine-tuned with the pruning wrappers, then `strip_pruning` leaves a plain Keras model
whose pruned weights are exact zeros (int8 conversion keeps them zero; BatchNorm folding multiplies
a zero by a scale). tfmot never prunes DepthwiseConv2D; such layers, and layers where 2:4 along the
input axis cannot remove anything (fewer than 4 input channels), are listed in `meta["not_pruned"]`.
"""

from __future__ import annotations

from pathlib import Path

from ..artifacts import load_keras
from ..keras_env import keras, set_seed
from . import fine_tune, fine_tune_config, optimizer_steps, register, save_variant, weights

DEFAULT_SPARSITY = 0.75
PRUNE_FRACTION = 0.5      # prune during the first half of the fine-tune steps, recover in the rest
MASK_UPDATES = 16         # how many times the mask is recomputed while sparsity ramps up
SMALL_LAYER = 0.05        # a layer with < 5% of all kernel weights stays dense (prune75)...
MAX_LAYER_SPARSITY = 0.95  # ...unless the others would need more than this to reach the target


def schedule_steps(total_steps: int, fraction: float = PRUNE_FRACTION, updates: int = MASK_UPDATES):
    """(end_step, frequency) with frequency dividing end_step, so the last mask update is at end_step.

    tfmot updates the mask when `step % frequency == 0` and `step <= end_step`; if the frequency
    does not divide the schedule, the last update falls short and the target sparsity is missed.
    """
    end = max(1, int(total_steps * fraction))
    frequency = max(1, end // updates)
    return frequency * (end // frequency), frequency


def _prunable(layer, m_by_n) -> tuple[bool, str]:
    from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry
    kind = layer.__class__.__name__
    if kind not in weights.KERNEL_LAYERS:
        return False, ""
    if kind == "DepthwiseConv2D" or not prune_registry.PruneRegistry.supports(layer):
        return False, f"{kind}: tfmot does not prune it"
    if m_by_n and layer.kernel.shape[-2] < m_by_n[1]:
        return False, (f"{layer.kernel.shape[-2]} input channel(s): {m_by_n[0]}:{m_by_n[1]} "
                       "along the input axis removes nothing")
    return True, ""


def layer_targets(sizes: dict[str, int], target: float) -> tuple[float, dict[str, str]]:
    """(sparsity for the pruned layers, {small layer: why it stays dense}) so that the sparsity over
    ALL kernels still reaches `target`.

    A 3x3 first convolution has 9 weights per filter: at 75% sparsity it keeps 2 of them, which costs
    more accuracy than the few bytes it saves; the large layers hold nearly all the weights.
    """
    total = sum(sizes.values())
    small = {n: c for n, c in sizes.items() if c < SMALL_LAYER * total}
    rest = total - sum(small.values())
    if not small or rest == 0 or target * total / rest > MAX_LAYER_SPARSITY:
        return target, {}
    per_layer = min(MAX_LAYER_SPARSITY, target * total / rest + 0.002)   # + rounding of the mask sizes
    return per_layer, {n: f"small layer ({c} weights, {c / total:.1%} of the kernels): kept dense, the "
                          f"others pruned to {per_layer:.3f}" for n, c in small.items()}


def prune(base, recipe, data, out: Path, name: str, m_by_n: tuple[int, int] | None = None):
    import tensorflow_model_optimization as tfmot
    k = keras()
    sp = tfmot.sparsity.keras
    params = recipe.params("prune")
    target = float(params.get("sparsity", DEFAULT_SPARSITY))
    cfg, epochs = fine_tune_config(recipe.train, params, default_epochs=2)
    set_seed(cfg["seed"])
    model = load_keras(base.path)

    total = optimizer_steps(len(data.x_train), cfg["batch_size"], epochs)
    end, frequency = schedule_steps(total)
    not_pruned: dict[str, str] = {}     # layer name -> why it keeps its weights
    if m_by_n:
        schedule = sp.ConstantSparsity(0.5, begin_step=0, end_step=end, frequency=frequency)
        layer_target = 0.5
    else:
        sizes = {n: int(a.size) for n, a in weights.kernels(model).items()
                 if _prunable(model.get_layer(n), None)[0]}
        layer_target, not_pruned = layer_targets(sizes, target)
        schedule = sp.PolynomialDecay(initial_sparsity=0.0, final_sparsity=layer_target, begin_step=0,
                                      end_step=end, frequency=frequency)

    def wrap(layer):
        ok, why = _prunable(layer, m_by_n)
        if why:
            not_pruned[layer.name] = why
        if not ok or layer.name in not_pruned:
            return layer
        kwargs = {"sparsity_m_by_n": m_by_n} if m_by_n else {}
        return sp.prune_low_magnitude(layer, pruning_schedule=schedule, **kwargs)

    wrapped = k.models.clone_model(model, clone_function=wrap)
    fine_tune(wrapped, data, cfg, epochs, callbacks=[sp.UpdatePruningStep()])
    stripped = sp.strip_pruning(wrapped)

    kern = weights.kernels(stripped)
    pruned_names = [n for n in kern if n not in not_pruned]
    overall, per_layer = weights.sparsity(kern)
    pruned_overall, _ = weights.sparsity({n: kern[n] for n in pruned_names})
    meta = {"sparsity": round(overall, 4), "sparsity_pruned_layers": round(pruned_overall, 4),
            "sparsity_per_layer": {n: round(v, 4) for n, v in per_layer.items()},
            "not_pruned": [f"{n}: {why}" for n, why in not_pruned.items()], "epochs": epochs,
            "schedule": {"end_step": end, "frequency": frequency, "total_steps": total}}
    if m_by_n:
        meta["m_by_n"] = list(m_by_n)
        meta["m_by_n_holds"] = {n: weights.m_by_n_holds(kern[n], *m_by_n) for n in pruned_names}
    else:
        meta["target_sparsity"] = target
        meta["pruned_layer_sparsity_target"] = round(layer_target, 4)
    return save_variant(stripped, name, out, data, meta)


@register("prune75", kind="pruned 75% + int8", section="prune")
def prune75(base, recipe, data, out: Path, inputs: dict):
    return prune(base, recipe, data, out, "prune75")


@register("prune24", kind="2:4 pruned + int8", section="prune")
def prune24(base, recipe, data, out: Path, inputs: dict):
    return prune(base, recipe, data, out, "prune24", m_by_n=(2, 4))
