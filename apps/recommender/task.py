"""`RecommenderTask`: collaborative filtering trained on indices, served on raw ids.

Training runs on the `scorer` network, with ids already mapped to indices
by the model's own lookup layers (one vectorised call per table, no per-row
Python), so the compiled step holds no hash-table lookups and can be
XLA-compiled; the served model (`raw_id_model`) puts the lookups in front.

Weight decay on embeddings (`weight_decay_mode`):

- `"l2"` (default): an L2 penalty `weight_decay * mean(sum(row ** 2))` on the
  rows looked up in each batch, with sparse (lazy) Adam updates of the
  tables; dense layers (the neural MLP) get decoupled decay.
- `"decoupled"`: fastai's decoupled decay of whole matrices each step
  (`w -= lr * weight_decay * w`), with dense Adam updates.

On MovieLens (benchmarks/collab_movielens.py) `"l2"` gave validation RMSE
0.867 against 0.891 for `"decoupled"` (fastai reports 0.889 for that
recipe), in about half the time; see apps/recommender/README.md.

The SavedModel serves `predict(user_ids, item_ids) -> {"ratings"}` and
`recommend(user_ids, k) -> {"item_ids", "scores"}` (items the user rated in
training excluded, inside the graph), on raw ids, with TensorFlow alone.

Example:

>>> import pandas as pd
>>> ratings = pd.DataFrame({"user": [1, 2] * 32, "item": [5, 6, 6, 5] * 16,
...                         "rating": [4.0, 2.0, 1.0, 5.0] * 16})
>>> task = RecommenderTask.from_ratings(ratings, n_factors=3, batch_size=16)
>>> _ = task.fit_one_cycle(ratings, epochs=1, lr_max=1e-2, verbose=0)
>>> task.predict(ratings.iloc[:2]).shape
(2,)
"""
from __future__ import annotations

__all__ = ["RecommenderTask"]

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from apps.recommender.data import (
    check_duplicate_ratings,
    check_rating_range,
    id_array,
    model_inputs,
)
from apps.recommender.metrics import mae, rmse
from apps.recommender.models import build_scorer, default_y_range, raw_id_model
from apps.recommender.serving import RecommenderServer, rated_pairs
from apps.recommender.side_features import item_side_tables
from dlkeras.data import default_batch_size, index_batched_dataset, training_batches
from dlkeras.tasks import Task

WEIGHT_DECAY_MODES = ("l2", "decoupled")


def _plain_ids(values):
    """Ids as JSON-able Python values: ints stay ints, anything else becomes text."""
    array = np.asarray(values)
    return array.astype("int64").tolist() if array.dtype.kind in "iu" else array.astype(str).tolist()


class RecommenderTask(Task):
    """A dot-product or neural recommender with its id vocabularies.

    Build one with `RecommenderTask.from_ratings`; `Task.load` reloads a run
    folder. Metadata: `users` and `items` (the id vocabularies, in lookup
    order), `rated` (lookup indices of the training pairs, excluded by
    `recommend`), `kind`, `y_range`, `weight_decay`, `weight_decay_mode`,
    `batch_size`, `name`.
    """

    default_lr_max = 5e-3  # the course's rate for the dot model at batch 64

    def __init__(self, network, layer_groups=None, metadata=None):
        super().__init__(network, layer_groups, metadata)
        self._index_cache = []

    @classmethod
    def from_ratings(cls, train, *, kind="dot", n_factors=50, weight_decay=0.1,
                     weight_decay_mode="l2", y_range=None, layers=(100, 50),
                     side_features=False, batch_size=None, name="recommender",
                     steps_per_execution=64, jit_compile=None, dropout=None):
        """Builds and compiles a recommender for the ids of the training table `train`.

        Args:
            train: training ratings (`user`, `item`, `rating` columns; `genres`
                and `year` too with `side_features`).
            kind: `"dot"` or `"neural"`.
            n_factors: factor width (neural: `None` for `emb_sz_rule` per side).
            weight_decay: weight decay (the course's 0.1).
            weight_decay_mode: `"l2"` or `"decoupled"` (see the module docstring).
            y_range: sigmoid range; default `default_y_range(train["rating"])`.
            layers: MLP widths of the neural model.
            side_features: add item genre and release-year embeddings.
            batch_size: ratings per step (default from the table's size).
            name: model name for exports.
            steps_per_execution: train steps per compiled call (each fit moves it
                to the nearest divisor of its epoch's steps; `dlkeras.steps_per_execution`).
            jit_compile: XLA; `None` picks by kind (measured: it pays for the
                neural model's dense layers, not for the dot model).
            dropout: dropout after each hidden block of the neural MLP (None:
                `models.DEFAULT_DROPOUT` for neural; the dot model has none).
        """
        if weight_decay_mode not in WEIGHT_DECAY_MODES:
            raise ValueError(f"weight_decay_mode must be one of {WEIGHT_DECAY_MODES}. "
                             f"Received: weight_decay_mode={weight_decay_mode!r}")
        if not isinstance(weight_decay, (int, float)) or weight_decay < 0:
            raise ValueError(f"weight_decay must be a float >= 0. Received: {weight_decay!r}")
        if len(train) == 0:
            raise ValueError("The training ratings table has no rows.")
        check_duplicate_ratings(train)
        if y_range is not None:
            check_rating_range(train["rating"], y_range)
        users, items = np.unique(train["user"].to_numpy()), np.unique(train["item"].to_numpy())
        y_range = tuple(y_range or default_y_range(train["rating"]))
        scorer = build_scorer(
            len(users) + 1, len(items) + 1, kind=kind, n_factors=n_factors, layers=layers,
            y_range=y_range, l2=weight_decay if weight_decay_mode == "l2" else 0.0,
            mean_rating=float(train["rating"].mean()), dropout=dropout,
            side_features=item_side_tables(train, items) if side_features else None)
        metadata = {"name": name, "kind": kind, "users": _plain_ids(users),
                    "items": _plain_ids(items), "y_range": list(y_range),
                    "weight_decay": float(weight_decay), "weight_decay_mode": weight_decay_mode,
                    "batch_size": int(batch_size or min(default_batch_size(len(train)), 64))}
        task = cls(scorer, metadata=metadata)
        user_index, item_index = rated_pairs(task.inference_model, train["user"], train["item"])
        task.metadata["rated"] = {"user_index": user_index.tolist(),
                                  "item_index": item_index.tolist()}
        task.compile(steps_per_execution=steps_per_execution,
                     jit_compile=(kind == "neural") if jit_compile is None else jit_compile)
        return task

    # --- Declarations ---------------------------------------------------------

    def default_optimizer(self):
        from dlkeras.optimizers import ScheduledAdamW

        if self.metadata["weight_decay_mode"] == "decoupled":
            return ScheduledAdamW(self.default_lr_max, weight_decay=self.metadata["weight_decay"])
        # The tables' decay is the L2 penalty on looked-up rows (FactorEmbedding):
        # lazy row updates, and decoupled decay for the dense layers only.
        return ScheduledAdamW(self.default_lr_max, weight_decay=self.metadata["weight_decay"],
                              sparse_updates=True, weight_decay_exclude=["embedding"])

    def loss_and_metrics(self):
        return "mse", [keras.metrics.RootMeanSquaredError(name="rmse")]

    def build_inference_model(self):
        return raw_id_model(self.network, self.metadata["users"], self.metadata["items"],
                            name=f"{self.metadata['kind']}_recommender")

    def index_inputs(self, ratings):
        """`{"user_index", "item_index"}` of a table's raw ids (0 = unseen), cached per table."""
        for table, indices in self._index_cache:
            if table is ratings:
                return indices
        ids = model_inputs(ratings)
        model = self.inference_model
        indices = {"user_index": np.asarray(model.get_layer("user_lookup")(ids["user_id"]), "int32"),
                   "item_index": np.asarray(model.get_layer("item_lookup")(ids["item_id"]), "int32")}
        self._index_cache = [(ratings, indices)] + self._index_cache[:1]
        return indices

    def make_dataset(self, data, *, training, batch_size, seed=None):
        if not isinstance(data, pd.DataFrame):
            raise TypeError(f"RecommenderTask takes a ratings DataFrame. Received: "
                            f"{type(data).__name__}")
        ratings = data["rating"].to_numpy("float32")
        if training:
            # Full batches only: every step has one shape, so the step is traced once.
            return training_batches(self.index_inputs(data), ratings, batch_size, seed=seed)
        return index_batched_dataset(self.index_inputs(data), ratings, min(len(data), 32768))

    def prepare_inputs(self, inputs):
        return self.index_inputs(inputs)

    def postprocess(self, outputs):
        return np.asarray(outputs).ravel()

    def server(self):
        """The `RecommenderServer` (predict / recommend graph functions) of this task."""
        rated = self.metadata.get("rated", {"user_index": [], "item_index": []})
        return RecommenderServer(self.inference_model, rated["user_index"], rated["item_index"])

    def serving_endpoints(self):
        server = self.server()
        return {"predict": tf.function(server.predict_fn,
                                       input_signature=server.predict_signature()),
                "recommend": tf.function(server.recommend_fn,
                                         input_signature=server.recommend_signature())}

    def serving_examples(self):
        def ids(values, name):
            dtype = self.inference_model.input[name].dtype
            return tf.constant(np.asarray(values).astype(str if dtype == "string" else "int64"))

        users = ids(self.metadata["users"][:2], "user_id")
        items = ids(self.metadata["items"][:2], "item_id")
        k = min(2, len(self.metadata["items"]))
        return {"predict": {"user_ids": users, "item_ids": items},
                "recommend": {"user_ids": users, "k": tf.constant(k, tf.int32)}}

    # --- Friendly outputs -----------------------------------------------------

    def evaluate_ratings(self, ratings):
        """`{"rmse", "mae"}` of the predictions for a table with true ratings."""
        predicted = self.predict(ratings, batch_size=8192)
        return {"rmse": rmse(ratings["rating"], predicted), "mae": mae(ratings["rating"], predicted)}

    def recommend(self, user_ids, k=10):
        """Top-`k` unrated items per user: `{"item_ids": (n, k), "scores": (n, k)}` (numpy)."""
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise ValueError(f"k must be an integer >= 1. Received: k={k!r}")
        string_ids = self.inference_model.input["user_id"].dtype == "string"
        users = id_array(user_ids, string_ids, "user_ids")
        users = tf.constant(users.astype(str) if string_ids else users)
        result = self.server().recommend(users, tf.constant(int(k), tf.int32))
        return {name: value.numpy() for name, value in result.items()}
