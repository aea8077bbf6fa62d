"""The training recipe: lr_find, fine_tune, evaluate, explain, export.

Everything about schedules, freezing and discriminative rates is the core's
(``dlkeras.lr_find``, ``dlkeras.fine_tune``); this module only wires data,
model and outputs together and decides where files go.
"""
import dataclasses
import datetime
import json
import math
import pathlib
from typing import Optional

import dlkeras
import numpy as np

from apps.image import data as image_data
from apps.image.export import export_image_model
from apps.image.interpret import save_figure
from apps.image.model import build_image_model, compile_image_model
from apps.image.pipeline import default_augmentation, make_dataset
from apps.image.report import collect_predictions, write_reports
from apps.image.tta import tta_predict

FALLBACK_LR = 1e-3


@dataclasses.dataclass
class TrainConfig:
    """Knobs of :func:`train_image_model` (the CLI's flags, one for one).

    Args:
        backbone: registry name (``dlkeras.backbones.list_backbones()``).
        weights: ``"imagenet"``, a weights file, or None (random).
        size: side of the square training images.
        batch_size: examples per step.
        epochs: unfrozen epochs of ``fine_tune``.
        freeze_epochs: epochs with only the head training.
        base_lr: ``fine_tune``'s base rate; None takes the LR finder's valley.
        lr_find_steps: length of the LR range test.
        lr_suggestion: which LR-finder suggestion becomes ``base_lr`` when it
            is not given: ``"valley"``, ``"steep"`` or ``"minimum"``.
        valid_pct: validation share when no validation source is given.
        seed: split, shuffle and weight-initialisation seed.
        augment: flip/rotate/zoom/contrast the training images.
        flip: include horizontal flips in the augmentation (off for digits, text).
        hidden_units: width of the head's hidden layer.
        dropout: the head's dropout.
        tta: also report test-time-augmented validation metrics.
        steps_per_epoch: cap on training steps per epoch (None: whole set).
        name: model name, for ``saved_models/<name>/<version>``.
        run_dir: where logs, plots and the Keras model go (default
            ``runs/image/<name>-<timestamp>``).
        export_root: root of the SavedModels (default ``$DLKERAS_SAVED_MODELS``
            or ``./saved_models``).
        verbose: Keras progress bars (1), one line per epoch (2) or silent (0).
    """
    backbone: str = "efficientnet_lite0"
    weights: Optional[str] = "imagenet"
    size: int = 128
    batch_size: int = 32
    epochs: int = 2
    freeze_epochs: int = 1
    base_lr: Optional[float] = None
    lr_find_steps: int = 50
    lr_suggestion: str = "valley"
    valid_pct: float = 0.2
    seed: int = 42
    augment: bool = True
    flip: bool = True
    hidden_units: int = 512
    dropout: float = 0.5
    tta: bool = False
    steps_per_epoch: Optional[int] = None
    name: str = "image_model"
    run_dir: Optional[str] = None
    export_root: Optional[str] = None
    verbose: int = 1


@dataclasses.dataclass
class TrainResult:
    """What a run produced: the model, its numbers and where files went."""
    image_model: object
    lr_suggestion: float
    base_lr: float
    histories: list
    metrics: dict
    most_confused: list
    paths: dict


def train_image_model(source, config=None, valid_source=None, backbone=None):
    """Fine-tunes a pretrained backbone on ``source`` and exports it.

    Args:
        source: an :class:`~apps.image.data.ImageSource` (split by
            ``config.valid_pct`` unless ``valid_source`` is given).
        config: a :class:`TrainConfig` (default: ``TrainConfig()``).
        valid_source: optional separate validation source.
        backbone: a ready backbone object instead of ``config.backbone``.

    Returns:
        A :class:`TrainResult`; ``paths`` holds ``run_dir``, ``logs``,
        ``lr_find``, ``grad_cam`` (and more), ``keras_model`` and ``saved_model``.

    Example:
    >>> from apps.image import datasets, data
    >>> source = data.from_arrays(*datasets.load_mnist_5k())  # doctest: +SKIP
    >>> result = train_image_model(source, TrainConfig(size=64))  # doctest: +SKIP
    """
    import keras

    config = config or TrainConfig()
    keras.utils.set_random_seed(config.seed)
    run_dir = _run_dir(config)
    log_dir = run_dir / "logs"
    if valid_source is None:
        source, valid_source = image_data.split(source, config.valid_pct, config.seed)
    augmentation = default_augmentation(flip=config.flip, seed=config.seed) if config.augment else None
    train_ds = make_dataset(source, config.size, config.batch_size, training=True,
                            augmentation=augmentation, seed=config.seed)
    valid_ds = make_dataset(valid_source, config.size, config.batch_size)
    # Repeat with a fixed step count: files dropped as unreadable leave the
    # dataset without a known length, which one-cycle schedules need.
    train_ds = train_ds.repeat()
    steps_per_epoch = config.steps_per_epoch or math.ceil(len(source) / config.batch_size)
    image_model = _build(source, config, backbone)
    suggestion, lr_plot = _find_learning_rate(image_model, train_ds, config, run_dir, log_dir)
    base_lr = config.base_lr or suggestion
    print(f"LR finder suggests {suggestion:.2e} ({config.lr_suggestion}; plot: {lr_plot}); "
          f"fine-tuning at base_lr={base_lr:.2e}")
    histories = dlkeras.fine_tune(
        image_model.model, train_ds, epochs=config.epochs, layer_groups=image_model.layer_groups,
        lr_max=base_lr, freeze_epochs=config.freeze_epochs, validation_data=valid_ds,
        log_dir=str(log_dir), steps_per_epoch=steps_per_epoch, verbose=config.verbose)
    metrics, pairs, figures = _evaluate_and_explain(image_model, valid_ds, config, run_dir, log_dir)
    paths = dict(run_dir=run_dir, logs=log_dir, lr_find=lr_plot, **figures)
    paths["keras_model"] = save_run(image_model, config, run_dir)
    paths["saved_model"] = export_image_model(image_model.model, config.size,
                                              image_model.class_names, config.name,
                                              root=config.export_root)
    return TrainResult(image_model, suggestion, base_lr, histories, metrics, pairs, paths)


def _evaluate_and_explain(image_model, valid_ds, config, run_dir, log_dir):
    """Validation metrics (plus TTA ones), most-confused pairs and the figures."""
    metrics = image_model.model.evaluate(valid_ds, return_dict=True, verbose=0)
    if config.tta:
        metrics.update(_tta_metrics(image_model, valid_ds))
    images, outputs, targets = collect_predictions(image_model.model, valid_ds)
    figures, pairs = write_reports(image_model, images, outputs, targets, run_dir, log_dir)
    return {k: float(v) for k, v in metrics.items()}, pairs, figures


def _build(source, config, backbone):
    if backbone is None:
        from dlkeras.backbones import create_backbone

        backbone = create_backbone(config.backbone, weights=config.weights,
                                   input_shape=(None, None, 3))
    image_model = build_image_model(backbone, source.class_names, task=source.task,
                                    hidden_units=config.hidden_units, dropout=config.dropout)
    compile_image_model(image_model)
    return image_model


def _find_learning_rate(image_model, train_ds, config, run_dir, log_dir):
    """LR range test on the frozen model (the state fine_tune's first phase trains)."""
    dlkeras.freeze(image_model.model, image_model.layer_groups)
    finder = dlkeras.lr_find(image_model.model, train_ds, num_steps=config.lr_find_steps,
                             log_dir=str(log_dir / "lr_find"), verbose=config.verbose)
    if config.lr_suggestion not in finder.suggestions:
        raise ValueError(f"`lr_suggestion` must be one of {sorted(finder.suggestions)}. "
                         f"Received: lr_suggestion={config.lr_suggestion!r}")
    suggestion = finder.suggestions[config.lr_suggestion]
    if suggestion is None or not math.isfinite(suggestion) or suggestion <= 0:
        print(f"LR finder gave no usable suggestion ({suggestion}); using {FALLBACK_LR:g}")
        suggestion = FALLBACK_LR
    plot_path = save_figure(finder.plot(), run_dir / "lr_find.png")
    return float(suggestion), plot_path


def _tta_metrics(image_model, valid_ds):
    outputs = tta_predict(image_model.model, valid_ds)
    targets = np.concatenate([np.asarray(t) for _, t in valid_ds])
    if image_model.task == "single_label":
        return {"tta_accuracy": float((outputs.argmax(axis=1) == targets).mean())}
    if image_model.task == "multi_label":
        return {"tta_accuracy": float(((outputs > 0.5) == (targets > 0.5)).mean())}
    return {"tta_mse": float(((outputs - targets) ** 2).mean())}


def save_run(image_model, config, run_dir):
    """Saves ``model.keras`` and ``image_model.json`` (what export/predict need)."""
    run_dir = pathlib.Path(run_dir)
    path = run_dir / "model.keras"
    image_model.model.save(path)
    description = dict(task=image_model.task, class_names=image_model.class_names,
                       size=config.size, backbone=getattr(image_model.backbone, "name", None),
                       name=config.name)
    (run_dir / "image_model.json").write_text(json.dumps(description, indent=2))
    return path


def _run_dir(config):
    if config.run_dir:
        path = pathlib.Path(config.run_dir)
    else:
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        path = pathlib.Path("runs") / "image" / f"{config.name}-{stamp}"
    path.mkdir(parents=True, exist_ok=True)
    return path
