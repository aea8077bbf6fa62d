"""The whole recipe on a tiny backbone: lr_find, fine_tune, reports, export."""
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.image import data
from apps.image.train import TrainConfig, train_image_model
from test_image_support import stripes, tiny_backbone


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    images, labels = stripes(256, size=16, seed=1)
    source = data.from_arrays(images, labels, class_names=["horizontal", "vertical"])
    # base_lr is given: on 7 steps per epoch the finder's valley is too noisy to rely on.
    config = TrainConfig(size=16, batch_size=32, epochs=2, freeze_epochs=1, lr_find_steps=20,
                         base_lr=1e-2,
                         hidden_units=16, dropout=0.1, augment=False, tta=True, name="stripes",
                         run_dir=str(root / "run"), export_root=str(root / "saved"), verbose=0)
    return train_image_model(source, config, backbone=tiny_backbone(seed=2)), root


def test_recipe_learns_and_reports(result):
    outcome, _ = result
    assert 1e-7 <= outcome.lr_suggestion <= 10 and outcome.base_lr == 1e-2
    frozen, unfrozen = outcome.histories
    assert len(frozen.history["loss"]) == 1 and len(unfrozen.history["loss"]) == 2
    assert outcome.metrics["accuracy"] >= 0.9
    assert outcome.metrics["tta_accuracy"] >= 0.9
    assert set(outcome.metrics) >= {"loss", "accuracy", "tta_accuracy"}


def test_run_leaves_plots_logs_keras_model_and_saved_model(result):
    outcome, root = result
    paths = outcome.paths
    for key in ("lr_find", "confusion_matrix", "top_losses", "grad_cam"):
        with Image.open(paths[key]) as picture:
            assert picture.format == "PNG", key
    event_files = list(paths["logs"].rglob("events.out.tfevents*"))
    assert event_files, "no TensorBoard logs"
    description = json.loads((paths["run_dir"] / "image_model.json").read_text())
    assert description == {"task": "single_label", "class_names": ["horizontal", "vertical"],
                           "size": 16, "backbone": "tiny", "name": "stripes"}
    assert paths["saved_model"] == root / "saved" / "stripes" / "1"
    served = tf.saved_model.load(str(paths["saved_model"])).signatures["serve_pixels"]
    images, labels = stripes(32, size=16, seed=5)
    outputs = served(pixels=tf.constant(images))["outputs"].numpy()
    assert (outputs.argmax(axis=1) == labels).mean() >= 0.9
    np.testing.assert_allclose(outputs,
                               outcome.image_model.model.predict(images.astype("float32"), verbose=0),
                               atol=1e-5)


def test_multi_label_run_reports_f_beta_and_exports_sigmoid_outputs(tmp_path):
    images, labels = stripes(96, size=16, seed=3)
    bright = (images.mean(axis=(1, 2, 3)) > np.median(images.mean(axis=(1, 2, 3))))
    tags = np.stack([labels == 0, labels == 1, bright], axis=1).astype("float32")
    source = data.from_arrays(images, tags, class_names=["horizontal", "vertical", "bright"],
                              task="multi_label")
    config = TrainConfig(size=16, batch_size=32, epochs=1, freeze_epochs=1, lr_find_steps=5,
                         base_lr=1e-2, hidden_units=8, augment=False, name="tags",
                         run_dir=str(tmp_path / "run"), export_root=str(tmp_path / "saved"),
                         verbose=0)
    outcome = train_image_model(source, config, backbone=tiny_backbone(seed=5))
    assert set(outcome.metrics) == {"loss", "accuracy", "f_beta"}
    assert 0.0 <= outcome.metrics["f_beta"] <= 1.0 and outcome.most_confused == []
    assert "confusion_matrix" not in outcome.paths and outcome.paths["grad_cam"].is_file()
    served = tf.saved_model.load(str(outcome.paths["saved_model"])).signatures["serve_pixels"]
    outputs = served(pixels=tf.constant(images[:8]))["outputs"].numpy()
    assert outputs.shape == (8, 3) and not np.allclose(outputs.sum(axis=1), 1.0)
    np.testing.assert_allclose(
        outputs, outcome.image_model.model.predict(images[:8].astype("float32"), verbose=0),
        atol=1e-5)
