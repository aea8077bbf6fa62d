"""Command line for the tabular app: train, predict, export, write-gss.

    python -m apps.tabular write-gss --out gss_wages.csv
    python -m apps.tabular train --csv gss_wages.csv --target high_income \\
        --cat occrecode wrkstat gender educcat maritalcat year --cont age prestg10 childs
    python -m apps.tabular predict --csv gss_wages.csv --out predictions.csv
    python -m apps.tabular export --name gss_wages
"""
from __future__ import annotations

import argparse
import json
import os
import sys

DEFAULT_MODEL_DIR = "tabular_model"


def _read_csv(path):
    import pandas as pd

    if not os.path.exists(path):
        raise SystemExit(f"error: --csv {path!r} does not exist.")
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as error:
        raise SystemExit(f"error: cannot read --csv {path!r} as CSV: {error}") from error


def _train(args) -> None:
    from apps.tabular.learner import TabularLearner

    df = _read_csv(args.csv)
    learn = TabularLearner.from_df(
        df, args.target, args.cat, args.cont, task=args.task, valid_pct=args.valid_pct,
        seed=args.seed, batch_size=args.batch_size, wd=args.wd, layers=args.layers,
        ps=args.dropout, embed_p=args.embed_dropout,
        y_range=tuple(args.y_range) if args.y_range else None,
        steps_per_execution=args.steps_per_execution)
    print(f"roles: {json.dumps(learn.roles.to_dict())}")
    lr_max = args.lr_max
    if args.lr_find:
        finder = learn.lr_find()
        print(f"lr_find suggestions: {finder.suggestions}")
        lr_max = lr_max or finder.suggestion
    history = learn.fit_one_cycle(args.epochs, lr_max=lr_max or 1e-2, verbose=args.verbose,
                                  log_dir=args.log_dir)
    final = {k: round(float(v[-1]), 5) for k, v in history.history.items()}
    print(f"final epoch: {json.dumps(final)}")
    print(f"saved to {learn.save(args.model_dir)}")
    if args.export:
        print(f"exported to {learn.export(args.export, root=args.export_root)}")


def _predict(args) -> None:
    from apps.tabular.learner import TabularLearner

    learn = TabularLearner.load(args.model_dir)
    predictions = learn.predict_frame(_read_csv(args.csv))
    if args.out:
        predictions.to_csv(args.out, index=False)
        print(f"wrote {len(predictions)} predictions to {args.out}")
    else:
        predictions.to_csv(sys.stdout, index=False)


def _export(args) -> None:
    from apps.tabular.learner import TabularLearner

    print(TabularLearner.load(args.model_dir).export(args.name, root=args.root))


def _write_gss(args) -> None:
    from apps.tabular.gss import write_gss_csv

    print(f"wrote {write_gss_csv(args.out)}")


def build_parser() -> argparse.ArgumentParser:
    """The `python -m apps.tabular` argument parser (one sub-command per task)."""
    parser = argparse.ArgumentParser(
        prog="python -m apps.tabular", description="Entity-embedding models for tables: "
        "train on a CSV, predict, export a SavedModel that takes raw columns.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train on a CSV and save the model")
    train.add_argument("--csv", required=True, help="training CSV (header row of column names)")
    train.add_argument("--target", required=True, nargs="+",
                       help="target column (several = multi-target regression)")
    train.add_argument("--cat", nargs="*", help="categorical columns (default: from dtypes)")
    train.add_argument("--cont", nargs="*", help="continuous columns (default: from dtypes)")
    train.add_argument("--task", choices=["binary", "multiclass", "regression"],
                       help="default: inferred from the target")
    train.add_argument("--layers", type=int, nargs="+", default=[200, 100], help="hidden widths")
    train.add_argument("--dropout", type=float, default=0.0, help="dropout after hidden layers")
    train.add_argument("--embed-dropout", type=float, default=0.0, help="embedding dropout")
    train.add_argument("--y-range", type=float, nargs=2, metavar=("LOW", "HIGH"),
                       help="sigmoid-scaled regression output range")
    train.add_argument("--epochs", type=int, default=5, help="one-cycle epochs (default 5)")
    train.add_argument("--lr-max", type=float, help="peak learning rate (default 1e-2, or "
                       "the LR finder's suggestion with --lr-find)")
    train.add_argument("--lr-find", action="store_true", help="run the LR finder first")
    train.add_argument("--wd", type=float, default=0.01, help="AdamW weight decay (0.01)")
    train.add_argument("--batch-size", type=int, default=1024, help="rows per step (1024)")
    train.add_argument("--valid-pct", type=float, default=0.2, help="random validation share")
    train.add_argument("--seed", type=int, default=42, help="split and shuffle seed")
    train.add_argument("--steps-per-execution", type=int, default=1,
                       help="steps per compiled call (Keras compile option)")
    train.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="where to save the model")
    train.add_argument("--export", metavar="NAME", help="also export saved_models/NAME/<v>/")
    train.add_argument("--export-root", help="saved-models root (default ./saved_models)")
    train.add_argument("--log-dir", help="TensorBoard logdir (metrics, lr and momentum)")
    train.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity")
    train.set_defaults(run=_train)

    predict = commands.add_parser("predict", help="predict rows of a CSV with a saved model")
    predict.add_argument("--csv", required=True, help="CSV with the model's input columns")
    predict.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="saved model folder")
    predict.add_argument("--out", help="output CSV (default: stdout)")
    predict.set_defaults(run=_predict)

    export = commands.add_parser("export", help="export a saved model as a SavedModel")
    export.add_argument("--model-dir", default=DEFAULT_MODEL_DIR, help="saved model folder")
    export.add_argument("--name", required=True, help="model name: saved_models/NAME/<version>/")
    export.add_argument("--root", help="saved-models root (default ./saved_models)")
    export.set_defaults(run=_export)

    gss = commands.add_parser("write-gss", help="write the gss_wages high-income task as CSV")
    gss.add_argument("--out", required=True, help="CSV path to write")
    gss.set_defaults(run=_write_gss)
    return parser


def main(argv=None) -> None:
    """Entry point: parse `argv` and run the sub-command."""
    args = build_parser().parse_args(argv)
    if getattr(args, "target", None) and len(args.target) == 1:
        args.target = args.target[0]
    try:
        args.run(args)
    except (KeyError, ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        raise SystemExit(f"error: {error}") from error


if __name__ == "__main__":
    main()
