"""Plots as matplotlib figures returned to the caller, optionally sent to TensorBoard.

Nothing here opens a window: figures use the non-interactive Agg canvas.

Example:

>>> import numpy as np
>>> from dlkeras.plots import plot_lr_finder
>>> lrs = np.geomspace(1e-5, 1, 20)
>>> figure = plot_lr_finder(lrs, np.linspace(2, 1, 20), {"valley": 1e-3})
>>> figure.axes[0].get_xscale()
'log'
"""

import io
import pathlib

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(width=6.0, height=4.0):
    """A figure bound to the Agg canvas (never shown on screen)."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def plot_lr_finder(lrs, losses, suggestions=None):
    """Loss against learning rate (log scale), with the suggestions marked."""
    figure = new_figure()
    axes = figure.add_subplot(1, 1, 1)
    axes.plot(lrs, losses, color="tab:blue")
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    axes.set_ylabel("loss (smoothed)")
    lrs, losses = np.asarray(lrs), np.asarray(losses)
    markers = {"valley": "o", "steep": "^", "minimum": "s"}
    for name, value in (suggestions or {}).items():
        index = int(np.argmin(np.abs(np.log(lrs) - np.log(value))))
        axes.plot([value], [losses[index]], markers.get(name, "x"), markersize=8,
                  label=f"{name}: {value:.2e}")
    if suggestions:
        axes.legend()
    figure.tight_layout()
    return figure


def figure_to_png(figure, dpi=100):
    """PNG bytes of a figure."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def log_figure(figure, log_dir, tag, step=0):
    """Writes `figure` as an image summary under `log_dir` (a TensorBoard logdir)."""
    import tensorflow as tf

    image = tf.image.decode_png(figure_to_png(figure), channels=4)
    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.image(tag, image[None], step=step)
    writer.flush()
    writer.close()


def save_figure(figure, path, log_dir=None, tag=None, step=0):
    """Writes `figure` to `path` (PNG), and to TensorBoard when `log_dir` is given.

    Returns:
        The path as a `pathlib.Path`.

    Example:

    >>> import tempfile
    >>> save_figure(new_figure(), pathlib.Path(tempfile.mkdtemp()) / "empty.png").suffix
    '.png'
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    if log_dir is not None:
        log_figure(figure, str(log_dir), tag or path.stem, step=step)
    return path
