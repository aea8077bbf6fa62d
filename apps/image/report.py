"""The pictures a training run leaves behind: confusion matrix, top losses, Grad-CAM."""
import pathlib

import numpy as np

from apps.image import interpret
from apps.image.gradcam import grad_cam, plot_grad_cam


def collect_predictions(model, dataset, max_examples=2000):
    """Runs ``model`` over ``dataset`` and keeps images, outputs and targets.

    Collecting from the dataset itself (not from the source) keeps them
    aligned even when unreadable files were dropped on the way.

    Returns:
        ``(images uint8 (N, H, W, 3), outputs (N, C), targets)`` for at most
        ``max_examples`` examples.

    Example:
    >>> images, outputs, targets = collect_predictions(model, valid_ds)  # doctest: +SKIP
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


def write_reports(image_model, images, outputs, targets, out_dir, log_dir=None,
                  top_k=9, gradcam_count=4):
    """Saves the interpretation figures as PNG (and to TensorBoard under ``log_dir``).

    Args:
        image_model: the trained :class:`~apps.image.model.ImageModel`.
        images, outputs, targets: from :func:`collect_predictions`.
        out_dir: folder for the PNG files.
        log_dir: TensorBoard logdir, or None.
        top_k: images in the top-losses grid.
        gradcam_count: images explained with Grad-CAM (the worst predictions
            for single-label, else the first ones).

    Returns:
        ``(paths, most_confused)``: dict of figure name -> PNG path, and the
        most-confused ``(actual, predicted, count)`` pairs (single-label only).

    Example:
    >>> paths, pairs = write_reports(image_model, *collected, "runs/x")  # doctest: +SKIP
    """
    out_dir = pathlib.Path(out_dir)
    names, task = image_model.class_names, image_model.task
    paths, pairs = {}, []
    worst, _ = interpret.top_losses(outputs, targets, k=max(top_k, gradcam_count), task=task)
    if task == "single_label":
        matrix = interpret.confusion_matrix(targets, outputs.argmax(axis=1), len(names))
        pairs = interpret.most_confused(matrix, names)
        paths["confusion_matrix"] = interpret.save_figure(
            interpret.plot_confusion_matrix(matrix, names), out_dir / "confusion_matrix.png",
            log_dir, "interpretation/confusion_matrix")
        paths["top_losses"] = interpret.save_figure(
            interpret.plot_top_losses(images, outputs, targets, names, k=top_k),
            out_dir / "top_losses.png", log_dir, "interpretation/top_losses")
    chosen = worst[:gradcam_count]
    heatmaps, classes = grad_cam(image_model, images[chosen].astype("float32"))
    if task == "single_label":
        titles = [f"predicted {names[c]} / actual {names[int(t)]}"
                  for c, t in zip(classes, targets[chosen])]
    else:
        titles = [f"explains: {names[c]}" for c in classes]
    paths["grad_cam"] = interpret.save_figure(
        plot_grad_cam(images[chosen], heatmaps, titles), out_dir / "grad_cam.png",
        log_dir, "interpretation/grad_cam")
    return paths, pairs
