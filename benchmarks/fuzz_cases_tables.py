"""Fuzz cases of the tabular `serving_default` and the recommender's `predict` and `recommend`.

A valid answer equals the in-memory raw-input Keras model (`inference_model`)
on the same tensors, within 1e-4, and is well formed: tabular probabilities
are finite, in [0, 1], sum to 1 and the label is the most probable class;
ratings lie in `y_range`; a recommendation lists distinct known items by
descending score, the items the user rated in training only after every
unrated one.
"""
import numpy as np

from benchmarks.fuzz_cases_image import SHAPE_ERRORS
from benchmarks.fuzz_serving import Case, Signature

DTYPE = ("expected to be a",)
INT64 = np.iinfo("int64")
STRANGE_TEXT = ["", " ", "a" * 1000, "é", "\u4e2d\u6587", "0", "nan", "None", "\x00x", "a,b",
                "\n", "2001.0"]


def _choice(rng, options):
    return options[int(rng.integers(len(options)))]


class TabularServe(Signature):
    """`serving_default(shop, year: string[n], x, z: float32[n])` of a binary classifier."""

    app, signature = "tabular", "serving_default"
    CONT = ("x", "z")

    def export(self, root):
        import keras
        import pandas as pd

        from apps.tabular.task import TabularTask

        rng = np.random.default_rng(0)
        frame = pd.DataFrame({"shop": rng.choice(list("abcd"), 400),
                              "year": rng.integers(2001, 2006, 400),
                              "x": rng.normal(size=400), "z": rng.normal(size=400)})
        frame.loc[rng.random(400) < 0.1, "z"] = np.nan
        frame["y"] = ((frame["shop"] < "c") ^ (frame["x"] > 0)).astype(int)
        keras.utils.set_random_seed(0)
        self.task = TabularTask.from_frame(frame, "y", cat_names=["shop", "year"],
                                           cont_names=list(self.CONT), layers=[16], batch_size=32)
        self.task.fit_one_cycle(frame, epochs=1, lr_max=1e-2, verbose=0)
        return self.task.export("fuzz", root=root)

    def _rows(self, rng, n):
        shops = list("abcd") + STRANGE_TEXT
        years = ["2001", "2003", "2005", "1999", ""] + STRANGE_TEXT
        numbers = lambda: np.where(rng.random(n) < 0.15, np.nan, rng.normal(size=n) * _choice(  # noqa: E731
            rng, [1.0, 1e-30, 1e3, 1e6, 0.0]))
        return {"shop": np.array([_choice(rng, shops) for _ in range(n)], dtype=object),
                "year": np.array([_choice(rng, years) for _ in range(n)], dtype=object),
                "x": numbers().astype("float32"), "z": numbers().astype("float32")}

    def cases(self, rng, n):
        kinds = ["valid"] * 35 + ["extreme"] * 10 + ["inf"] * 12 + ["ragged"] * 12 + \
            ["empty"] * 4 + ["dtype"] * 15 + ["missing"] * 5 + ["extra"] * 3 + ["rank"] * 4
        return [self._case(str(rng.choice(kinds)), rng) for _ in range(n)]

    def _case(self, kind, rng):
        rows = int(rng.integers(1, 9))
        columns = self._rows(rng, rows)
        name = _choice(rng, self.CONT)
        if kind == "valid":
            return Case(kind, columns, "valid")
        if kind == "empty":
            return Case(kind, self._rows(rng, 0), "valid")
        if kind == "extreme":
            columns[name][int(rng.integers(rows))] = _choice(rng, [3e38, -3e38, 1e30, -1e38])
            return Case(kind, columns, "either", ("outputs are not finite",))
        if kind == "inf":
            columns[name][int(rng.integers(rows))] = _choice(rng, [np.inf, -np.inf])
            return Case(kind, columns, "refuse", (f"column {name} holds",))
        if kind == "ragged":
            other = _choice(rng, ["shop", "year", "x", "z"])
            columns[other] = columns[other][:-1] if rng.random() < 0.5 else np.concatenate(
                [columns[other], columns[other][:1]])
            return Case(kind, columns, "refuse", ("rows but column",))
        if kind == "dtype":
            column = _choice(rng, ["shop", "year", "x", "z"])
            dtypes = ["int64", "float32", "bool"] if column in ("shop", "year") else \
                ["float64", "int32", "int64", "bool", "float16", "str"]
            values = rng.integers(0, 5, rows).astype(_choice(rng, dtypes))
            return Case(kind, {**columns, column: values}, "refuse", DTYPE)
        if kind == "missing":
            column = _choice(rng, ["shop", "year", "x", "z"])
            return Case(kind, {k: v for k, v in columns.items() if k != column}, "refuse",
                        (f"missing required arguments: {column}",))
        if kind == "extra":
            return Case(kind, {**columns, "salary": np.ones(rows, "float32")}, "refuse",
                        ("unexpected keyword arguments: salary",))
        return Case(kind, {**columns, name: columns[name][:, None]}, "refuse", SHAPE_ERRORS)

    def wrong_answer(self, case, outputs):
        import tensorflow as tf

        probabilities = np.asarray(outputs["probabilities"], np.float64).reshape(-1, 2)
        rows = len(case.inputs["x"])
        if probabilities.shape != (rows, 2) or len(outputs["label"]) != rows:
            return f"{probabilities.shape} probabilities for {rows} rows"
        if not (np.isfinite(probabilities).all() and (probabilities >= 0).all()
                and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)):
            return f"probabilities {probabilities.tolist()[:2]}"
        classes = self.task.roles.classes
        if outputs["label"] != [classes[i] for i in probabilities.argmax(axis=1)]:
            return f"labels {outputs['label']} for probabilities {probabilities.tolist()}"
        if not rows:
            return None
        columns = {k: tf.constant(v) for k, v in case.inputs.items()}
        p = self.task.inference_model(columns, training=False).numpy().reshape(-1)
        if not np.allclose(probabilities[:, 1], p, atol=1e-4):
            return f"p={probabilities[:, 1].tolist()} but the in-memory model gives {p.tolist()}"
        return None


class _Recommender(Signature):
    """Shared by `predict` and `recommend`: one exported dot-product model."""

    app = "recommender"
    USERS = list(range(-3, 60))
    ITEMS = list(range(10, 210, 10))
    shared = {}

    def export(self, root):
        if "path" in self.shared:
            return self.shared["path"]
        import pandas as pd

        from apps.recommender.models import build_scorer
        from apps.recommender.serving import rated_pairs
        from apps.recommender.task import RecommenderTask

        rng = np.random.default_rng(0)
        scorer = build_scorer(len(self.USERS) + 1, len(self.ITEMS) + 1, n_factors=4)
        task = RecommenderTask(scorer, metadata={
            "name": "fuzz", "kind": "dot", "users": self.USERS, "items": self.ITEMS,
            "y_range": [0.0, 5.5], "weight_decay": 0.1, "weight_decay_mode": "l2",
            "batch_size": 64})
        for weight in task.network.trainable_weights:
            weight.assign(rng.normal(size=weight.shape).astype("float32"))
        seen = pd.DataFrame({"user": rng.choice(self.USERS, 150),
                             "item": rng.choice(self.ITEMS, 150)})
        users, items = rated_pairs(task.inference_model, seen["user"], seen["item"])
        task.metadata["rated"] = {"user_index": users.tolist(), "item_index": items.tolist()}
        self.shared.update(task=task, rated=set(zip(seen["user"], seen["item"])),
                           path=task.export("fuzz", root=root))
        return self.shared["path"]

    def _ids(self, rng, n):
        pool = self.USERS + [INT64.min, INT64.max, 0, -1, 10 ** 12, -(10 ** 9)]
        picks = [_choice(rng, pool) if rng.random() < 0.8 else int(rng.integers(-10 ** 6, 10 ** 6))
                 for _ in range(n)]
        return np.array(picks, dtype="int64")

    def _ratings(self, users, items):
        import tensorflow as tf

        model = self.shared["task"].inference_model
        return model({"user_id": tf.constant(users, tf.int64),
                      "item_id": tf.constant(items, tf.int64)}, training=False).numpy()


class RecommenderPredict(_Recommender):
    """`predict(user_ids: int64[n], item_ids: int64[n]) -> ratings`."""

    signature = "predict"

    def cases(self, rng, n):
        kinds = ["valid"] * 40 + ["empty"] * 4 + ["ragged"] * 15 + ["dtype"] * 25 + \
            ["rank"] * 8 + ["missing"] * 8
        return [self._case(str(rng.choice(kinds)), rng) for _ in range(n)]

    def _case(self, kind, rng):
        size = int(rng.integers(1, 11))
        users, items = self._ids(rng, size), self._ids(rng, size)
        items = np.where(rng.random(size) < 0.7, rng.choice(self.ITEMS, size), items)
        if kind == "valid":
            return Case(kind, {"user_ids": users, "item_ids": items}, "valid")
        if kind == "empty":
            return Case(kind, {"user_ids": users[:0], "item_ids": items[:0]}, "valid")
        if kind == "ragged":
            return Case(kind, {"user_ids": users, "item_ids": np.append(items, items[:2])},
                        "refuse", ("must have the same length",))
        if kind == "dtype":
            dtype = _choice(rng, ["float64", "float32", "int32", "uint64", "str", "bool", "int8"])
            field = _choice(rng, ["user_ids", "item_ids"])
            values = (users.astype("float64") + 0.5).astype(dtype) if "float" in dtype else \
                np.abs(users).astype(dtype)
            return Case(kind, {"user_ids": users, "item_ids": items, field: values}, "refuse",
                        DTYPE)
        if kind == "rank":
            return Case(kind, {"user_ids": users[:, None], "item_ids": items}, "refuse",
                        SHAPE_ERRORS)
        return Case(kind, {"user_ids": users}, "refuse", ("missing required arguments: item_ids",))

    def wrong_answer(self, case, outputs):
        ratings = np.asarray(outputs["ratings"], np.float64)
        users, items = case.inputs["user_ids"], case.inputs["item_ids"]
        if ratings.shape != (len(users),):
            return f"{ratings.shape} ratings for {len(users)} pairs"
        if not (np.isfinite(ratings).all() and (ratings >= 0).all() and (ratings <= 5.5).all()):
            return f"ratings outside y_range: {ratings.tolist()}"
        want = self._ratings(users, items) if len(users) else ratings
        return None if np.allclose(ratings, want, atol=1e-4) else \
            f"ratings {ratings.tolist()} but the in-memory model gives {want.tolist()}"


class RecommenderRecommend(_Recommender):
    """`recommend(user_ids: int64[n], k: int32) -> item_ids, scores`."""

    signature = "recommend"

    def cases(self, rng, n):
        kinds = ["valid"] * 45 + ["empty"] * 4 + ["k"] * 20 + ["dtype"] * 20 + ["rank"] * 11
        return [self._case(str(rng.choice(kinds)), rng) for _ in range(n)]

    def _case(self, kind, rng):
        users = self._ids(rng, int(rng.integers(1, 7)))
        k = np.int32(rng.integers(1, len(self.ITEMS) + 1))
        if kind == "valid":
            return Case(kind, {"user_ids": users, "k": k}, "valid")
        if kind == "empty":
            return Case(kind, {"user_ids": users[:0], "k": k}, "valid")
        if kind == "k":
            bad = np.int32(_choice(rng, [0, -1, INT64.min // 2 ** 32, len(self.ITEMS) + 1,
                                         2 ** 31 - 1]))
            return Case(kind, {"user_ids": users, "k": bad}, "refuse", ("k must be",))
        if kind == "dtype":
            if rng.random() < 0.5:
                k = _choice(rng, [np.int64(k), np.float32(k), np.float64(k) + 0.5, np.uint8(k)])
            else:
                users = users.astype(_choice(rng, ["float64", "int32", "str", "uint64"]))
            return Case(kind, {"user_ids": users, "k": k}, "refuse", DTYPE)
        shaped = {"user_ids": users, "k": np.array([k])} if rng.random() < 0.5 else \
            {"user_ids": users[:, None], "k": k}
        return Case(kind, shaped, "refuse", SHAPE_ERRORS)

    def wrong_answer(self, case, outputs):
        users, k = case.inputs["user_ids"], int(case.inputs["k"])
        ids = np.asarray(outputs["item_ids"]).reshape(-1, k) if len(users) else np.zeros((0, k))
        scores = np.asarray(outputs["scores"], np.float64).reshape(ids.shape)
        if ids.shape != (len(users), k):
            return f"{ids.shape} items for {len(users)} users and k={k}"
        if not len(users):
            return None
        n_items = len(self.ITEMS)
        every = self._ratings(np.repeat(users, n_items), np.tile(self.ITEMS, len(users)))
        for user, row, row_scores, all_scores in zip(users, ids, scores,
                                                     every.reshape(len(users), n_items)):
            why = self._wrong_row(int(user), [int(i) for i in row], row_scores, k, all_scores)
            if why:
                return f"user {user}: {why}"
        return None

    def _wrong_row(self, user, row, row_scores, k, scores):
        if len(set(row)) != k or not set(row) <= set(self.ITEMS):
            return f"items {row} are not {k} distinct known items"
        with np.errstate(invalid="ignore"):  # -inf - -inf for the rated items at the end
            rising = np.any(np.diff(row_scores) > 1e-6)
        if rising or np.isnan(row_scores).any():
            return f"scores {row_scores.tolist()} are not in descending order"
        rated = np.array([(user, item) in self.shared["rated"] for item in self.ITEMS])
        scores = np.where(rated, -np.inf, scores)
        if not np.allclose(np.sort(scores)[::-1][:k], row_scores, atol=1e-4):
            return f"scores {row_scores.tolist()} are not the top {k} of the in-memory model"
        if not np.allclose(scores[[self.ITEMS.index(i) for i in row]], row_scores, atol=1e-4):
            return f"items {row} do not have the scores {row_scores.tolist()}"
        return None
