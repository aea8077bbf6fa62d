"""What each ``python -m apps.image`` sub-command does with its parsed flags."""
import dataclasses
import json
import pathlib

import numpy as np

from apps.image import data, datasets

BUILT_IN_SETS = {"mnist-5k": datasets.load_mnist_5k,
                 "fashion-mnist": lambda: datasets.load_fashion_mnist("train")}


def config_from_args(args, base):
    """Applies the shared training flags to the :class:`TrainConfig` ``base``."""
    weights = None if str(args.weights).lower() == "none" else args.weights
    return dataclasses.replace(
        base, backbone=args.backbone, weights=weights, size=args.size,
        batch_size=args.batch_size, epochs=args.epochs, freeze_epochs=args.freeze_epochs,
        base_lr=args.lr, lr_find_steps=args.lr_find_steps, lr_suggestion=args.lr_suggestion,
        hidden_units=args.hidden_units,
        dropout=args.dropout, steps_per_epoch=args.steps_per_epoch,
        augment=not args.no_augment, flip=not args.no_flip, tta=args.tta, seed=args.seed,
        name=args.name, run_dir=args.run_dir, export_root=args.export_root,
        verbose=0 if args.quiet else 1)


def load_source(args):
    """The :class:`~apps.image.data.ImageSource` named by ``--data``."""
    if args.data in BUILT_IN_SETS:
        images, labels, names = BUILT_IN_SETS[args.data]()
        source = data.from_arrays(images, labels, class_names=names)
    else:
        path = pathlib.Path(args.data)
        task = None if args.task == "auto" else args.task
        columns = args.label_column[0] if len(args.label_column) == 1 else args.label_column
        if path.is_dir():
            source = data.from_folder(path)
        elif path.suffix.lower() == ".csv":
            source = data.from_csv(path, path_column=args.path_column, label_columns=columns,
                                   task=task, label_delimiter=args.label_delimiter)
        else:
            raise FileNotFoundError(
                f"--data {args.data!r} is neither a folder, a .csv file, nor one of "
                f"{sorted(BUILT_IN_SETS)}.")
    for path, reason in source.skipped:
        print(f"skipped unreadable image {path}: {reason}")
    if args.limit and args.limit < len(source):
        order = np.random.default_rng(args.seed).permutation(len(source))[:args.limit]
        source = source.subset(np.sort(order))
    return source


def train_command(args):
    from apps.image.demo import print_summary
    from apps.image.train import TrainConfig, train_image_model

    config = dataclasses.replace(config_from_args(args, TrainConfig()), valid_pct=args.valid_pct)
    source = load_source(args)
    print(f"{len(source)} images, task {source.task}, {len(source.class_names)} classes: "
          f"{source.class_names[:10]}{' ...' if len(source.class_names) > 10 else ''}")
    print_summary(train_image_model(source, config))
    return 0


def demo_command(args):
    from apps.image.demo import demo_config, run_demo

    config = config_from_args(args, demo_config())
    run_demo(args.train_examples, args.valid_examples, config)
    return 0


def predict_command(args):
    from apps.image.predict import predict_files

    results = predict_files(args.model, args.images, top_k=args.top_k)
    if args.json:
        print(json.dumps([{"image": path, "predictions": best} for path, best in results]))
        return 0
    failed = False
    for path, best in results:
        if isinstance(best, str):
            failed = True
            print(f"{path}: {best}")
        else:
            print(f"{path}: " + ", ".join(f"{name} {score:.4f}" for name, score in best))
    return 1 if failed else 0


def export_command(args):
    import keras

    import dlkeras.backbones  # noqa: F401  (registers the backbones' custom layers)
    from apps.image import heads  # noqa: F401  (registers ConcatPooling2D)
    from apps.image.export import export_image_model

    run = pathlib.Path(args.run)
    description_path = run / "image_model.json"
    if not description_path.is_file() or not (run / "model.keras").is_file():
        raise FileNotFoundError(f"{str(run)!r} is not a training run folder: it needs "
                                "model.keras and image_model.json.")
    description = json.loads(description_path.read_text())
    # compile=False: serving needs no optimizer, and reloading the optimizer
    # state of a DiscriminativeOptimizer fails in dlkeras 0.1.0 (slot shapes
    # are matched to the wrong variables).
    model = keras.saving.load_model(run / "model.keras", compile=False)
    path = export_image_model(model, args.size or description["size"], description["class_names"],
                              args.name or description["name"], root=args.export_root)
    print(f"SavedModel: {path}")
    return 0
