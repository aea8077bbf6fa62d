"""The whole recipe on a tiny backbone: lr_find, fine_tune, reports, run folder, export."""
import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.image import data
from apps.image.report import collect_predictions, write_reports
from apps.image.task import ImageTask
from dlkeras.tasks import Task

from test_image_support import stripes, tiny_backbone


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    images, labels = stripes(256, size=16, seed=1)
    source = data.from_arrays(images, labels, class_names=["horizontal", "vertical"])
    train, valid = source.subset(np.arange(200)), source.subset(np.arange(200, 256))
    task = ImageTask.from_source(train, tiny_backbone(seed=2), size=16, batch_size=32,
                                 hidden_units=16, dropout=0.1, augment=False, name="stripes")
    finder = task.lr_find(train, total_steps=20, verbose=0)
    histories = task.train(train, epochs=2, lr_max=1e-2, validation_data=valid, verbose=0,
                           log_dir=str(root / "logs"))
    return task, finder, histories, valid, root


def test_recipe_fine_tunes_frozen_then_unfrozen_and_learns(trained):
    task, finder, histories, valid, _ = trained
    assert len(finder.lrs) == 20
    frozen, unfrozen = histories
    assert len(frozen.history["loss"]) == 1 and len(unfrozen.history["loss"]) == 2
    # fine_tune's unfrozen phase spreads peak rates from lr_max/2/100 to lr_max/2.
    assert unfrozen.history["lr/head"][-1] < unfrozen.history["lr/head"][0]
    metrics = task.evaluate(valid)
    assert metrics["accuracy"] >= 0.9 and set(metrics) == {"loss", "accuracy"}


def test_default_optimizer_updates_every_variable_with_the_fused_kernel(trained):
    task = trained[0]
    optimizer = task.network.optimizer
    assert len(optimizer.optimizers) > 1 and all(sub.fused for sub in optimizer.optimizers)
    variables = task.network.trainable_variables
    grads = [tf.zeros_like(variable) for variable in variables]
    graph = tf.function(lambda: optimizer.apply(grads, variables)).get_concrete_function().graph
    kernels = [op for op in graph.get_operations() if op.type == "ResourceApplyAdam"]
    assert len(kernels) == len(variables)


def test_reports_run_folder_and_export(trained):
    task, _, _, valid, root = trained
    images, outputs, targets = collect_predictions(task.network, task.dataset(valid, training=False))
    paths, pairs = write_reports(task, images, outputs, targets, root / "figures", root / "logs")
    for key in ("confusion_matrix", "top_losses", "grad_cam"):
        with Image.open(paths[key]) as picture:
            assert picture.format == "PNG", key
    assert list((root / "logs").rglob("events.out.tfevents*"))
    task.save(root / "saved_run")
    described = json.loads((root / "saved_run" / "task.json").read_text())["metadata"]
    assert described["class_names"] == ["horizontal", "vertical"] and described["size"] == 16
    reloaded = Task.load(root / "saved_run")
    assert isinstance(reloaded, ImageTask)
    assert reloaded.layer_groups.names == ["body_early", "body_late", "head"]
    assert [item.name for item in reloaded.layer_groups[0].layers] == ["stem_conv", "stem_bn"]
    path = reloaded.export(root=root / "saved")
    assert path == root / "saved" / "stripes" / "1"
    served = tf.saved_model.load(str(path)).signatures["serve_pixels"]
    test_images, test_labels = stripes(32, size=16, seed=5)
    outputs = served(pixels=tf.constant(test_images))["outputs"].numpy()
    assert (outputs.argmax(axis=1) == test_labels).mean() >= 0.9
    np.testing.assert_allclose(outputs, task.predict(test_images), atol=1e-5)


def test_multi_label_trains_and_exports_sigmoid_outputs(tmp_path):
    images, labels = stripes(96, size=16, seed=3)
    bright = (images.mean(axis=(1, 2, 3)) > np.median(images.mean(axis=(1, 2, 3))))
    tags = np.stack([labels == 0, labels == 1, bright], axis=1).astype("float32")
    source = data.from_arrays(images, tags, class_names=["horizontal", "vertical", "bright"],
                              task="multi_label")
    task = ImageTask.from_source(source, tiny_backbone(seed=5), size=16, hidden_units=8,
                                 augment=False, name="tags")
    task.train(source, epochs=1, lr_max=1e-2, verbose=0)
    assert set(task.evaluate(source)) == {"loss", "accuracy", "f_beta"}
    collected = collect_predictions(task.network, task.dataset(source, training=False))
    paths, pairs = write_reports(task, *collected, tmp_path)
    assert pairs == [] and "confusion_matrix" not in paths and paths["grad_cam"].is_file()
    served = tf.saved_model.load(str(task.export(root=tmp_path))).signatures["serve_pixels"]
    outputs = served(pixels=tf.constant(images[:8]))["outputs"].numpy()
    assert outputs.shape == (8, 3) and not np.allclose(outputs.sum(axis=1), 1.0)
    np.testing.assert_allclose(outputs, task.predict(images[:8]), atol=1e-5)
