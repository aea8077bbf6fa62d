"""Command line: `python -m apps.recommender {train,recommend,export} ...`.

    python -m apps.recommender train --ratings ratings.csv --out runs/movies
    python -m apps.recommender recommend --model-dir runs/movies --user 15 -k 10
    python -m apps.recommender export --model-dir runs/movies --name movies
    python -m apps.recommender recommend --saved-model saved_models/movies/1 --user 15
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m apps.recommender", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train on a ratings file and save the model")
    train.add_argument("--ratings", required=True, help="u.data (tabs) or CSV with a header")
    train.add_argument("--layout", default="auto", choices=["auto", "udata", "csv"])
    train.add_argument("--user-col", default="userId")
    train.add_argument("--item-col", default="movieId")
    train.add_argument("--rating-col", default="rating")
    train.add_argument("--model", default="dot", choices=["dot", "neural"])
    train.add_argument("--factors", type=int, default=50)
    train.add_argument("--epochs", type=int, default=5)
    train.add_argument("--lr", default="5e-3", help="peak rate, or 'find' to use lr_find's")
    train.add_argument("--wd", type=float, default=0.1)
    train.add_argument("--wd-mode", default="l2", choices=["l2", "decoupled"])
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--valid-pct", type=float, default=0.2)
    train.add_argument("--seed", type=int, default=42)
    train.add_argument("-k", type=int, default=10, help="cut-off of the ranking metrics")
    train.add_argument("--out", default="runs/recommender", help="folder for the trained model")
    recommend = commands.add_parser("recommend", help="top-k unrated items for users")
    source = recommend.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-dir", help="a folder written by `train`")
    source.add_argument("--saved-model", help="an exported SavedModel version folder")
    recommend.add_argument("--user", action="append", required=True, help="raw user id (repeatable)")
    recommend.add_argument("-k", type=int, default=10)
    export = commands.add_parser("export", help="write a SavedModel under saved_models/<name>/<v>/")
    export.add_argument("--model-dir", required=True)
    export.add_argument("--name", required=True)
    export.add_argument("--root", default=None, help="default $DLKERAS_SAVED_MODELS or ./saved_models")
    return parser


def _parse_lr(text: str):
    if text == "find":
        return text
    try:
        value = float(text)
    except ValueError:
        raise SystemExit(f"--lr must be a number or 'find'. Received: --lr={text!r}") from None
    if value <= 0:
        raise SystemExit(f"--lr must be > 0. Received: --lr={text!r}")
    return value


def run_train(args) -> dict:
    from apps.recommender import data, metrics, runs, training
    from apps.recommender.serving import RecommenderServer

    lr = _parse_lr(args.lr)
    ratings = data.load_ratings(args.ratings, args.layout, args.user_col, args.item_col,
                                args.rating_col)
    train, valid = data.random_split(ratings, args.valid_pct, args.seed)
    model = training.create_recommender(train, kind=args.model, n_factors=args.factors,
                                        wd=args.wd, weight_decay_mode=args.wd_mode)
    if lr == "find":
        finder = training.find_learning_rate(model, train, batch_size=args.batch_size)
        lr = float(finder.suggestion)
        print(f"lr_find suggestion (valley): {lr:.3g}")
    training.fit_recommender(model, train, valid, epochs=args.epochs, lr_max=lr,
                             batch_size=args.batch_size)
    report = {"lr_max": lr, **training.evaluate_ratings(model, valid),
              **metrics.ranking_metrics(RecommenderServer(model, train).recommend, valid, k=args.k)}
    runs.save_run(args.out, model, train, report)
    print(json.dumps(report, indent=2))
    return report


def run_recommend(args) -> None:
    from apps.recommender import runs

    recommend = runs.recommend_function(model_dir=args.model_dir, saved_model=args.saved_model)
    result = recommend(args.user, args.k)
    for user, items, scores in zip(args.user, result["item_ids"], result["scores"]):
        print(f"user {user}:")
        for rank, (item, score) in enumerate(zip(items, scores), start=1):
            item = item.decode() if isinstance(item, bytes) else item
            print(f"  {rank:3d}. item {item}  predicted {score:.3f}")


def run_export(args) -> pathlib.Path:
    from apps.recommender import runs
    from apps.recommender.export import export_recommender

    model, train = runs.load_run(args.model_dir)
    path = export_recommender(model, train, args.name, args.root)
    print(path)
    return path


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"train": run_train, "recommend": run_recommend, "export": run_export}
    try:
        handlers[args.command](args)
    except (FileNotFoundError, KeyError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
