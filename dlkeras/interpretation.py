"""Interpreting a classifier's predictions: confusion matrix, most-confused pairs, top losses.

Plain functions of predictions and targets (NumPy), shared by every app;
the plot is a matplotlib figure returned to the caller
(`dlkeras.plots.save_figure` writes it to PNG and TensorBoard).

Example:

>>> matrix = confusion_matrix([0, 1, 1], [0, 0, 1], 2)
>>> most_confused(matrix, ["cat", "dog"])
[('dog', 'cat', 1)]
"""

import numpy as np

from dlkeras.plots import new_figure

_EPSILON = 1e-7


def confusion_matrix(targets, predicted, num_classes):
    """Counts `[actual, predicted]` pairs of class indices.

    Example:

    >>> confusion_matrix([0, 1, 1], [0, 0, 1], 2).tolist()
    [[1, 0], [1, 1]]
    """
    targets, predicted = np.asarray(targets, np.int64), np.asarray(predicted, np.int64)
    if targets.shape != predicted.shape:
        raise ValueError(f"targets {targets.shape} and predictions {predicted.shape} differ in shape.")
    for name, values in (("targets", targets), ("predicted", predicted)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"{name} hold class indices outside 0..{num_classes - 1}: "
                             f"[{values.min()}, {values.max()}]")
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (targets, predicted), 1)
    return matrix


def most_confused(matrix, class_names, min_count=1):
    """Off-diagonal `(actual, predicted, count)` triples, most frequent first.

    Example:

    >>> most_confused(np.array([[5, 2], [3, 4]]), ["a", "b"])
    [('b', 'a', 3), ('a', 'b', 2)]
    """
    pairs = [(class_names[i], class_names[j], int(matrix[i, j]))
             for i in range(len(matrix)) for j in range(len(matrix))
             if i != j and matrix[i, j] >= min_count]
    return sorted(pairs, key=lambda pair: -pair[2])


def per_example_losses(outputs, targets, task="single_label"):
    """Each example's loss: cross-entropy, mean binary cross-entropy or squared error.

    Example:

    >>> per_example_losses(np.array([[0.5, 0.5]]), np.array([1])).round(4).tolist()
    [0.6931]
    """
    outputs = np.asarray(outputs, np.float64)
    if task == "single_label":
        chosen = outputs[np.arange(len(outputs)), np.asarray(targets, np.int64)]
        return -np.log(np.clip(chosen, _EPSILON, 1.0))
    targets = np.asarray(targets, np.float64).reshape(outputs.shape)
    if task == "multi_label":
        clipped = np.clip(outputs, _EPSILON, 1.0 - _EPSILON)
        return -(targets * np.log(clipped) + (1 - targets) * np.log(1 - clipped)).mean(axis=1)
    return ((outputs - targets) ** 2).mean(axis=1)


def top_losses(outputs, targets, k=9, task="single_label"):
    """Indices and values of the `k` largest per-example losses, largest first.

    Example:

    >>> top_losses(np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([1, 1]), k=1)[0].tolist()
    [0]
    """
    losses = per_example_losses(outputs, targets, task)
    order = np.argsort(-losses, kind="stable")[:k]
    return order, losses[order]


def plot_confusion_matrix(matrix, class_names, title="Confusion matrix"):
    """Draws a confusion matrix with its counts; returns the Figure.

    Example:

    >>> plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["x", "y"]).axes[0].get_title()
    'Confusion matrix'
    """
    size = max(4.0, 0.5 * len(class_names) + 2)
    figure = new_figure(size, size)
    axes = figure.add_subplot(1, 1, 1)
    axes.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=90)
    axes.set_yticks(ticks, class_names)
    threshold = matrix.max() / 2.0 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        axes.text(j, i, str(count), ha="center", va="center",
                  color="white" if count > threshold else "black")
    axes.set_xlabel("Predicted")
    axes.set_ylabel("Actual")
    axes.set_title(title)
    figure.tight_layout()
    return figure
