"""`python -m apps.recommender`: the recommender on the shared command line (`apps.cli`).

No TensorFlow import here: the modules that need it load when a command runs.
"""
from apps.cli import App, positive_int


class RecommenderApp(App):
    name = "recommender"
    description = ("Collaborative filtering (dot-product or neural, with biases and a y_range "
                   "sigmoid): train on a ratings file, recommend, export a SavedModel that "
                   "serves raw user and item ids.")
    default_epochs = 5
    examples = {
        "train": "  python -m apps.recommender train --ratings ratings.csv --run-dir runs/movies\n"
                 "  python -m apps.recommender train --ratings u.data --model neural --lr-find",
        "predict": "  python -m apps.recommender predict --run-dir runs/movies --user 15 -k 10",
        "export": "  python -m apps.recommender export --run-dir runs/movies --name movies",
    }

    def add_data_arguments(self, parser):
        data = parser.add_argument_group("data")
        data.add_argument("--ratings", required=True,
                          help="u.data (tab-separated, no header) or a CSV with a header")
        data.add_argument("--layout", default="auto", choices=["auto", "udata", "csv"],
                          help="file layout (default: tabs in the first line mean u.data)")
        data.add_argument("--user-col", default="userId", help="CSV user id column")
        data.add_argument("--item-col", default="movieId", help="CSV item id column")
        data.add_argument("--rating-col", default="rating", help="CSV rating column")

    def add_model_arguments(self, parser):
        model = parser.add_argument_group("model")
        model.add_argument("--model", default="dot", choices=["dot", "neural"],
                           help="dot product of factors, or an MLP over them (default: dot)")
        model.add_argument("--factors", type=positive_int, default=50,
                           help="factor width (default: %(default)s)")
        model.add_argument("--weight-decay", type=float, default=0.1,
                           help="weight decay (default: %(default)s)")
        model.add_argument("--weight-decay-mode", default="l2", choices=["l2", "decoupled"],
                           help="L2 penalty on looked-up rows with sparse updates (default), "
                                "or fastai's decoupled decay of whole tables")
        model.add_argument("-k", type=positive_int, default=10,
                           help="cut-off of the ranking metrics reported after training")

    def add_predict_arguments(self, parser):
        parser.add_argument("--user", action="append", required=True,
                            help="raw user id to recommend for (repeatable)")
        parser.add_argument("-k", type=positive_int, default=10, help="items per user")

    def load_data(self, args):
        from apps.recommender.data import load_ratings
        from dlkeras.data import random_split_frame

        ratings = load_ratings(args.ratings, args.layout, args.user_col, args.item_col,
                               args.rating_col)
        return random_split_frame(ratings, args.valid_pct, args.seed)

    def build_task(self, args, train):
        from apps.recommender.task import RecommenderTask

        return RecommenderTask.from_ratings(
            train, kind=args.model, n_factors=args.factors, weight_decay=args.weight_decay,
            weight_decay_mode=args.weight_decay_mode, batch_size=args.batch_size, name=args.name)

    def report(self, task, valid, run_dir, args):
        from apps.recommender.metrics import ranking_metrics

        return ranking_metrics(task.server().recommend, valid, k=args.k)

    def predict(self, task, args):
        result = task.recommend(convert_ids(args.user, task), args.k)
        for user, items, scores in zip(args.user, result["item_ids"], result["scores"]):
            print(f"user {user}:")
            for rank, (item, score) in enumerate(zip(items, scores), start=1):
                item = item.decode() if isinstance(item, bytes) else item
                print(f"  {rank:3d}. item {item}  predicted {score:.3f}")
        return 0


def convert_ids(users, task):
    """Command-line ids (text) in the model's id type, with a clear error."""
    if task.inference_model.input["user_id"].dtype == "string":
        return [str(user) for user in users]
    try:
        return [int(user) for user in users]
    except ValueError:
        raise ValueError(f"This model takes integer user ids. Received: --user {users}") from None


APP = RecommenderApp()
