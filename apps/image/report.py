"""The pictures a training run leaves behind: confusion matrix, top losses, Grad-CAM.

Example (`task`, an `ImageTask` trained on `source`; see tests/test_app_docstrings.py):

>>> collected = collect_predictions(task.network, task.dataset(source, training=False))
>>> sorted(write_reports(task, *collected, "/tmp/dlkeras-report-example")[0])
['confusion_matrix', 'grad_cam', 'top_losses']
"""
import pathlib

import numpy as np

from apps.image.gradcam import grad_cam, plot_grad_cam
from apps.image.interpret import plot_top_losses
from dlkeras.interpretation import (
    confusion_matrix,
    most_confused,
    plot_confusion_matrix,
    top_losses,
)
from dlkeras.plots import save_figure


def collect_predictions(model, dataset, max_examples=2000):
    """Runs `model` over `dataset` and keeps images, outputs and targets.

    Collecting from the dataset itself (not from the source) keeps them
    aligned even when unreadable files were dropped on the way.

    Returns:
        `(images uint8 (N, H, W, 3), outputs (N, C), targets)` for at most
        `max_examples` examples.
    """
    images, outputs, targets, count = [], [], [], 0
    for batch_images, batch_targets in dataset:
        outputs.append(np.asarray(model(batch_images, training=False)))
        images.append(np.clip(np.asarray(batch_images), 0, 255).astype(np.uint8))
        targets.append(np.asarray(batch_targets))
        count += len(batch_images)
        if count >= max_examples:
            break
    if not outputs:
        raise ValueError("The validation dataset is empty: nothing to interpret.")
    return (np.concatenate(images)[:max_examples], np.concatenate(outputs)[:max_examples],
            np.concatenate(targets)[:max_examples])


def write_reports(task, images, outputs, targets, out_dir, log_dir=None,
                  top_k=9, gradcam_count=4):
    """Saves the interpretation figures as PNG (and to TensorBoard under `log_dir`).

    Args:
        task: the trained `ImageTask`.
        images, outputs, targets: from `collect_predictions`.
        out_dir: folder for the PNG files.
        log_dir: TensorBoard logdir, or None.
        top_k: images in the top-losses grid.
        gradcam_count: images explained with Grad-CAM (the worst predictions
            for single-label, else the first ones).

    Returns:
        `(paths, most_confused)`: dict of figure name -> PNG path, and the
        most-confused `(actual, predicted, count)` pairs (single-label only).
    """
    out_dir = pathlib.Path(out_dir)
    names, target_type = task.class_names, task.target_type
    paths, pairs = {}, []
    worst, _ = top_losses(outputs, targets, k=max(top_k, gradcam_count), task=target_type)
    if target_type == "single_label":
        matrix = confusion_matrix(targets, outputs.argmax(axis=1), len(names))
        pairs = most_confused(matrix, names)
        paths["confusion_matrix"] = save_figure(
            plot_confusion_matrix(matrix, names), out_dir / "confusion_matrix.png",
            log_dir, "interpretation/confusion_matrix")
        paths["top_losses"] = save_figure(
            plot_top_losses(images, outputs, targets, names, k=top_k),
            out_dir / "top_losses.png", log_dir, "interpretation/top_losses")
    chosen = worst[:gradcam_count]
    heatmaps, classes = grad_cam(task.backbone_model, task.metadata["last_conv_layer"], task.head,
                                 images[chosen].astype("float32"))
    if target_type == "single_label":
        titles = [f"predicted {names[c]} / actual {names[int(t)]}"
                  for c, t in zip(classes, targets[chosen])]
    else:
        titles = [f"explains: {names[c]}" for c in classes]
    paths["grad_cam"] = save_figure(
        plot_grad_cam(images[chosen], heatmaps, titles), out_dir / "grad_cam.png",
        log_dir, "interpretation/grad_cam")
    return paths, pairs
