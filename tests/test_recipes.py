import pytest

from pipeline import datasets, recipes
from edgepipe_base.errors import EdgepipeError, UnknownName


def _params(recipe, **kw):
    spec = datasets.DATASETS.get(recipe.dataset)
    return recipe.build(spec.input_shape, spec.num_classes, **kw).count_params()


def test_demo_model_budget_and_student_size():
    r = recipes.load("fmnist_cnn")
    teacher, student = _params(r), _params(r, **r.student)
    assert teacher <= 100_000
    assert student <= teacher / 3


def test_every_recipe_builds_and_documents_itself():
    for name in recipes.available():
        r = recipes.load(name)
        assert r.doc, f"{name} has no docstring"
        assert _params(r) > 0


def test_unknown_model_lists_valid_names():
    with pytest.raises(UnknownName) as exc:
        recipes.load("resnet50")
    assert "fmnist_cnn" in str(exc.value) and "digits_cnn" in str(exc.value)


def test_recipe_whose_build_raises_is_one_clear_error(tmp_path):
    (tmp_path / "broken.py").write_text('"""Broken."""\nRECIPE = {"dataset": "digits"}\n'
                                        "def build(input_shape, num_classes):\n    raise ValueError('bad width')\n")
    r = recipes.load("broken", models_dir=tmp_path)
    with pytest.raises(EdgepipeError, match=r"broken.py: build\(\) raised ValueError: bad width"):
        r.build((8, 8, 1), 10)


def test_recipe_with_unknown_key_names_file_and_key(tmp_path):
    (tmp_path / "typo.py").write_text('RECIPE = {"dataset": "digits", "epochs": 3}\ndef build(): pass\n')
    with pytest.raises(EdgepipeError, match=r"typo.py: RECIPE has unknown keys \['epochs'\]"):
        recipes.load("typo", models_dir=tmp_path)
