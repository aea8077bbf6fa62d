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

from dlkeras.lr_suggestions import NoSuggestion, smooth_losses, sweep_shape


def new_figure(width=6.0, height=4.0):
    """A figure bound to the Agg canvas (never shown on screen)."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def plot_lr_finder(lrs, losses, suggestions=None, raw_losses=None, note=None):
    """Loss against learning rate (log scale), suggestions marked, divergent tail clipped.

    Args:
        lrs: the rates of the sweep.
        losses: the loss per rate (the finder's EMA-smoothed curve).
        suggestions: `{rule name: rate}` to mark.
        raw_losses: per-step losses; if given they are drawn as dots with
            their lag-free smoothed curve (the one the default rule reads),
            and the rate where the loss diverged is marked.
        note: a line to print on the figure (e.g. why there is no suggestion).

    The y axis stops a little above the loss the sweep started from, and the
    x axis a little past the divergence, so a blow-up to 30x the starting
    loss does not flatten the curve.
    """
    lrs, losses = np.asarray(lrs, dtype="float64"), np.asarray(losses, dtype="float64")
    figure = new_figure()
    axes = figure.add_subplot(1, 1, 1)
    axes.set_xscale("log")
    axes.set_xlabel("learning rate")
    curve, label, diverged, raw = losses, "loss (EMA-smoothed)", None, None
    if raw_losses is not None:
        raw = np.asarray(raw_losses, dtype="float64")
        axes.plot(lrs, raw, ".", color="0.65", markersize=3, label="loss per step")
        try:
            shape = sweep_shape(lrs, raw)
            curve = np.full(len(lrs), np.nan)
            curve[:len(shape.smoothed)] = shape.smoothed
            label = "loss (smoothed, no lag)"
            diverged = shape.diverged_lr
        except NoSuggestion:
            keep = np.isfinite(raw)
            if keep.sum() >= 2:
                curve = np.full(len(lrs), np.nan)
                curve[keep] = smooth_losses(lrs[keep], raw[keep])
    axes.plot(lrs, curve, color="tab:blue", label=label)
    axes.set_ylabel("loss")
    _clip_to_curve(axes, lrs, curve, diverged, raw)
    if diverged is not None:
        axes.axvline(diverged, color="tab:red", linestyle=":", label=f"diverged: {diverged:.1e}")
    markers = {"margin": "o", "valley": "v", "steep": "^", "minimum": "s"}
    for name, value in (suggestions or {}).items():
        index = int(np.argmin(np.abs(np.log(lrs) - np.log(value))))
        axes.plot([value], [curve[index]], markers.get(name, "x"), markersize=8,
                  label=f"{name}: {value:.2e}")
    if note:
        axes.set_title(f"No suggestion: {note}", fontsize=7, wrap=True)
    axes.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _clip_to_curve(axes, lrs, curve, diverged, raw=None):
    """Limits the axes to the curve before it diverges (plus the raw points' spread)."""
    finite = np.isfinite(curve)
    if finite.sum() < 2:
        return
    values, head = curve[finite], curve[finite][:max(3, finite.sum() // 10)]
    low, high = float(values.min()), max(float(np.median(head)), float(np.max(head)))
    if raw is not None:
        before = np.isfinite(raw) & (lrs < (diverged if diverged is not None else np.inf))
        if before.sum() >= 2:
            low = min(low, float(np.quantile(raw[before], 0.02)))
            high = max(high, float(np.quantile(raw[before], 0.98)))
    span = max(high - low, 1e-12)
    axes.set_ylim(low - 0.05 * span, high + 0.15 * span)
    if diverged is not None:
        axes.set_xlim(lrs[0] / 1.2, min(lrs[-1], diverged * 3.0) * 1.2)


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
