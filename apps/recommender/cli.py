"""`python -m apps.recommender`: the recommender on the shared command line (`apps.cli`).

Its flags and help texts are declared in `cli.toml`; this module says what the commands
do. No TensorFlow import here: the modules that need it load when a command runs.
"""
import pathlib

from apps.cli import App


class RecommenderApp(App):
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


APP = RecommenderApp(pathlib.Path(__file__).with_name("cli.toml"))
