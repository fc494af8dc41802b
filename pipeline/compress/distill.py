"""Knowledge distillation: a smaller student (the recipe's `student` architecture) learns from the
teacher's softened outputs (`distill`), next to the same student trained from scratch (`student`).

Loss = alpha * CE(labels, student) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T)),
on logits: recipe models end in softmax, so both models are rebuilt with a linear last activation
(same weights) for training, and the student gets its softmax back before it is saved. The teacher's
logits are computed once (the teacher runs in inference mode, so they do not change per epoch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..artifacts import keras_params, load_keras
from edgepipe_base.errors import EdgepipeError
from ..keras_env import keras, set_seed, tf
from . import cosine_decay, fine_tune_config, register, save_variant, training_subset


def with_last_activation(model, activation: str):
    """A copy of functional `model` whose output layer uses `activation` (same weights)."""
    k = keras()
    config = model.get_config()
    out_name = config["output_layers"][0][0]
    layer = next(l for l in config["layers"] if l["config"]["name"] == out_name)
    if "activation" not in layer["config"]:
        raise EdgepipeError(f"model '{model.name}': output layer '{out_name}' has no activation to "
                            "take logits from; end the recipe's model in a Dense layer with softmax")
    before = layer["config"]["activation"]
    layer["config"]["activation"] = activation
    copy = k.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy, before


def distillation_loss(temperature: float, alpha: float):
    """Loss over y_true = [label, teacher logits...] and y_pred = student logits."""
    t = tf()

    def loss(y_true, y_pred):
        labels = t.cast(y_true[:, 0], t.int32)
        teacher = y_true[:, 1:]
        hard = t.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=y_pred)
        p_teacher = t.nn.softmax(teacher / temperature)
        kl = t.reduce_sum(p_teacher * (t.nn.log_softmax(teacher / temperature)
                                       - t.nn.log_softmax(y_pred / temperature)), axis=-1)
        return alpha * hard + (1.0 - alpha) * temperature ** 2 * kl

    return loss


def label_accuracy(y_true, y_pred):
    t = tf()
    return t.cast(t.equal(t.argmax(y_pred, -1), t.cast(y_true[:, 0], t.int64)), t.float32)


def _student(recipe, data):
    if not recipe.student:
        raise EdgepipeError(f"{recipe.path}: RECIPE has no 'student' architecture for distillation")
    return recipe.build(data.input_shape, data.num_classes, **recipe.student)


def _meta(base, student, params, epochs, teacher_params):
    sp = keras_params(student)
    return {"teacher_params": teacher_params, "student_params": sp,
            "student_teacher_ratio": round(sp / teacher_params, 4), "student_arch": dict(params),
            "teacher_test_accuracy": base.test_accuracy, "epochs": epochs}


@register("distill", kind="distilled student + int8", section="distill")
def distill(base, recipe, data, out: Path, inputs: dict):
    k = keras()
    from ..train import batches, optimizer
    params = recipe.params("distill")
    temperature, alpha = float(params.get("temperature", 4.0)), float(params.get("alpha", 0.1))
    cfg, epochs = fine_tune_config(recipe.train, params, default_epochs=5)
    cfg = cosine_decay(cfg, len(data.x_train), epochs)
    teacher = load_keras(base.path)
    teacher_logits, _ = with_last_activation(teacher, "linear")

    def targets(x, y):
        logits = teacher_logits.predict(batches(x), verbose=0)
        return np.concatenate([y[:, None].astype(np.float32), logits.astype(np.float32)], axis=1)

    x_train, y_labels, passes = training_subset(data, epochs, cfg["seed"])
    y_train, y_val = targets(x_train, y_labels), targets(data.x_val, data.y_val)
    set_seed(cfg["seed"])
    student = _student(recipe, data)
    from .. import progress
    logits_student, softmax = with_last_activation(student, "linear")
    logits_student.compile(optimizer=optimizer(cfg["optimizer"], cfg["learning_rate"]),
                           loss=distillation_loss(temperature, alpha), metrics=[label_accuracy])
    stop = k.callbacks.EarlyStopping(monitor="val_loss", patience=cfg["patience"], restore_best_weights=True)
    logits_student.fit(batches(x_train, y_train, cfg["batch_size"], shuffle_seed=cfg["seed"]),
                       validation_data=batches(data.x_val, y_val), epochs=passes,
                       callbacks=[stop, progress.epoch_callback(passes)], verbose=progress.keras_verbosity())
    trained, _ = with_last_activation(logits_student, softmax)
    meta = {**_meta(base, trained, recipe.student, epochs, keras_params(teacher)),
            "temperature": temperature, "alpha": alpha}
    return save_variant(trained, "distill", out, data, meta)


@register("student", kind="student from scratch + int8", section="distill")
def student(base, recipe, data, out: Path, inputs: dict):
    from ..train import fit
    params = recipe.params("distill")
    cfg, epochs = fine_tune_config(recipe.train, params, default_epochs=5)
    cfg = cosine_decay(cfg, len(data.x_train), epochs)       # the same schedule as `distill`
    set_seed(cfg["seed"])
    model = _student(recipe, data)
    fit(model, data, cfg, epochs=epochs)
    teacher_params = keras_params(load_keras(base.path))
    return save_variant(model, "student", out, data, _meta(base, model, recipe.student, epochs, teacher_params))
