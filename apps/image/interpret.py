"""Pictures of an image model's worst predictions (the images themselves).

Confusion matrices, most-confused pairs and per-example losses are the
core's (`dlkeras.interpretation`); this module draws the images.
"""
import numpy as np

from dlkeras.interpretation import top_losses
from dlkeras.plots import new_figure


def plot_top_losses(images, outputs, targets, class_names, k=9):
    """Grid of the `k` worst single-label predictions: predicted/actual/loss/probability.

    Example:

    >>> figure = plot_top_losses(np.zeros((3, 8, 8, 3)), np.array([[0.9, 0.1]] * 3),
    ...                          np.array([1, 0, 1]), ["a", "b"], k=2)
    >>> len([axes for axes in figure.axes if axes.images])
    2
    """
    indices, losses = top_losses(outputs, targets, k)
    columns = int(np.ceil(np.sqrt(len(indices))))
    rows = int(np.ceil(len(indices) / columns))
    figure = new_figure(3 * columns, 3.2 * rows)
    grid = figure.subplots(rows, columns, squeeze=False)
    for axes in grid.ravel():
        axes.axis("off")
    for axes, index, loss in zip(grid.ravel(), indices, losses):
        predicted = int(np.argmax(outputs[index]))
        axes.imshow(np.clip(np.asarray(images[index]), 0, 255).astype(np.uint8))
        axes.set_title(f"{class_names[predicted]}/{class_names[int(targets[index])]}\n"
                       f"{loss:.2f} / {outputs[index][int(targets[index])]:.2f}", fontsize=9)
    figure.suptitle("Predicted/Actual  Loss/Probability of actual")
    figure.tight_layout()
    return figure
