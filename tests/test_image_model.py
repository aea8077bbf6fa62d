"""Model builder: head, tasks, layer groups, serialization, progressive resizing."""
import keras
import numpy as np
import pytest

from apps.image.heads import ConcatPooling2D, build_head
from apps.image.model import build_image_model, loss_and_metrics

from test_image_support import stripes, tiny_backbone


def test_concat_pooling_is_average_then_max():
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype("float32")
    expected = np.concatenate([x.mean(axis=(1, 2)), x.max(axis=(1, 2))], axis=-1)
    np.testing.assert_allclose(ConcatPooling2D()(x).numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("task,activation_check", [
    ("single_label", lambda y: np.allclose(y.sum(axis=1), 1.0, atol=1e-5)),
    ("multi_label", lambda y: ((y > 0) & (y < 1)).all() and not np.allclose(y.sum(axis=1), 1.0)),
    ("regression", lambda y: (y < 0).any()),
])
def test_outputs_follow_the_task_at_any_input_size(task, activation_check):
    model, _ = build_image_model(tiny_backbone(), ["a", "b", "c"], task=task, hidden_units=8)
    rng = np.random.default_rng(1)
    for size in (16, 40):
        outputs = model.predict(rng.uniform(0, 255, (6, size, size, 3)), verbose=0)
        assert outputs.shape == (6, 3)
        assert activation_check(outputs)


def test_layer_groups_are_body_groups_then_head():
    backbone = tiny_backbone()
    model, groups = build_image_model(backbone, ["a", "b"])
    assert groups.names == ["body_early", "body_late", "head"]
    assert groups["head"].layers == [model.get_layer("head")]
    assert [item.name for item in groups[0].layers] == ["stem_conv", "stem_bn"]
    assert backbone.model.get_layer("stem_bn").momentum == 0.9  # see build_image_model
    head_layers = [item.name for item in model.get_layer("head").layers]
    assert head_layers == ["concat_pool", "head_bn_1", "head_dropout_1", "head_hidden",
                           "head_bn_2", "head_dropout_2", "head_output"]


def test_saved_keras_model_reloads_with_same_outputs(tmp_path):
    model, _ = build_image_model(tiny_backbone(), ["a", "b"], hidden_units=4)
    x = np.random.default_rng(2).uniform(0, 255, (3, 20, 20, 3)).astype("float32")
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(reloaded.get_layer("tiny_backbone"), keras.Model)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)


def test_multi_label_metrics_threshold_and_f_beta_by_hand():
    _, (accuracy, f_beta) = loss_and_metrics("multi_label", threshold=0.5, beta=2.0)
    y_true = np.array([[1, 0, 1], [0, 1, 0]], "float32")
    y_pred = np.array([[0.9, 0.6, 0.4], [0.2, 0.7, 0.1]], "float32")
    accuracy.update_state(y_true, y_pred)
    f_beta.update_state(y_true, y_pred)
    # Thresholded: [[1,1,0],[0,1,0]] -> 4 of 6 right; TP=2, FP=1, FN=1.
    assert float(accuracy.result()) == pytest.approx(4 / 6)
    precision, recall = 2 / 3, 2 / 3
    assert float(f_beta.result()) == pytest.approx(
        5 * precision * recall / (4 * precision + recall), rel=1e-5)


def test_head_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dropout=1.5"):
        build_head(8, 2, dropout=1.5)
    with pytest.raises(ValueError, match="task='ranking'"):
        build_image_model(tiny_backbone(), ["a"], task="ranking")


def test_progressive_resizing_continues_same_weights_at_larger_size():
    images, labels = stripes(96, size=32, seed=0)
    small = keras.ops.image.resize(images.astype("float32"), (16, 16)).numpy()
    model, _ = build_image_model(tiny_backbone(seed=4), ["horizontal", "vertical"],
                                 hidden_units=0, dropout=0.0)
    loss, metrics = loss_and_metrics("single_label")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=loss, metrics=metrics)
    model.fit(small, labels, batch_size=16, epochs=4, verbose=0)
    weights_after_small = [w.copy() for w in model.get_weights()]
    model.fit(images.astype("float32"), labels, batch_size=16, epochs=4, verbose=0)
    changed = [not np.allclose(a, b) for a, b in zip(weights_after_small, model.get_weights())]
    assert any(changed)
    test_images, test_labels = stripes(64, size=32, seed=9)
    _, accuracy = model.evaluate(test_images.astype("float32"), test_labels, verbose=0)
    assert accuracy >= 0.9
