"""Weight clustering (tfmot): every conv/dense kernel shares N centroid values (`cluster16`).

The variant keeps its CLI name `cluster16`; the number of clusters is the recipe's
`compress["cluster"]["clusters"]` and is recorded in `meta["clusters"]`, next to the number of
distinct values measured in each kernel after `strip_clustering`.
"""

from __future__ import annotations

from pathlib import Path

from ..artifacts import load_keras
from edgepipe_base.errors import EdgepipeError
from ..keras_env import keras, set_seed
from . import fine_tune, fine_tune_config, register, save_variant, weights

DEFAULT_CLUSTERS = 16


@register("cluster16", kind="weight-clustered + int8", section="cluster")
def cluster(base, recipe, data, out: Path, inputs: dict):
    import tensorflow_model_optimization as tfmot
    cl = tfmot.clustering.keras
    params = recipe.params("cluster")
    n = int(params.get("clusters", DEFAULT_CLUSTERS))
    cfg, epochs = fine_tune_config(recipe.train, params, default_epochs=1)
    set_seed(cfg["seed"])
    model = load_keras(base.path)
    clustered_names = []

    def wrap(layer):
        if layer.__class__.__name__ in ("Conv2D", "Dense", "Conv1D"):
            clustered_names.append(layer.name)
            return cl.cluster_weights(layer, number_of_clusters=n,
                                      cluster_centroids_init=cl.CentroidInitialization.KMEANS_PLUS_PLUS)
        return layer

    wrapped = keras().models.clone_model(model, clone_function=wrap)
    if wrapped is None or not clustered_names:
        raise EdgepipeError(f"{recipe.name} (cluster16): no Conv/Dense layer to cluster")
    fine_tune(wrapped, data, cfg, epochs)
    stripped = cl.strip_clustering(wrapped)
    kern = weights.kernels(stripped)
    unique = weights.unique_values({k: kern[k] for k in clustered_names})
    worst = max(unique.values())
    if worst > n:
        raise EdgepipeError(f"{recipe.name} (cluster16): a kernel kept {worst} distinct values, more than {n}")
    meta = {"clusters": n, "epochs": epochs, "unique_weights_per_layer": unique,
            "not_clustered": sorted(set(kern) - set(clustered_names))}
    return save_variant(stripped, "cluster16", out, data, meta)
