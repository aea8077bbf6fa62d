"""`TabularLearner`: build from a DataFrame, find a rate, fit one cycle, predict.

Training runs on the network half with preprocessed tensors; the full model
(preprocessor then network) is what predicts, saves and exports, so it takes
raw columns. Training logic (LR finder, one-cycle, AdamW) comes from dlkeras.
"""
from __future__ import annotations

import json
import pathlib

import keras
import numpy as np
import pandas as pd

from apps.tabular.data import TabularData, labelled_dataset, preprocess_frame
from apps.tabular.frames import random_split
from apps.tabular.network import build_network
from apps.tabular.preprocessor import build_preprocessor, cardinalities, continuous_width
from apps.tabular.roles import ColumnRoles, infer_roles

_LOSSES = {"binary": "binary_crossentropy", "multiclass": "sparse_categorical_crossentropy",
           "regression": "mean_squared_error"}


def _metrics(task):
    if task == "regression":
        return [keras.metrics.RootMeanSquaredError(name="rmse")]
    return ["accuracy"]


def compile_network(network, task, *, wd=0.01, steps_per_execution=1, jit_compile=False):
    """Compile with dlkeras' `ScheduledAdamW` (as `TabularAdamW`, decoupled decay `wd`).

    Adam's constants are fastai's (`beta_2=0.99`, `epsilon=1e-5`) so the
    one-cycle recipe behaves as it does there; `beta_1` is scheduled by
    `fit_one_cycle`.

    Example:
        >>> # compile_network(network, "binary", wd=0.01, steps_per_execution=32)
    """
    from apps.tabular.optimizer import TabularAdamW

    optimizer = TabularAdamW(learning_rate=1e-3, weight_decay=wd, beta_2=0.99, epsilon=1e-5)
    network.compile(optimizer=optimizer, loss=_LOSSES[task], metrics=_metrics(task),
                    steps_per_execution=steps_per_execution, jit_compile=jit_compile)


def build_training_state(network, features: dict, target) -> None:
    """Create metric and optimizer variables before the first `fit`.

    Keras' TF trainer (without a distribution strategy) creates them inside
    the first traced train step, and a tf.function that creates variables is
    traced a second time: building them here halves the first fit's tracing.
    """
    sample = ({name: values[:2] for name, values in features.items()}, target[:2])
    network._symbolic_build(data_batch=sample)  # Keras' own pre-build (private API)
    if not network.optimizer.built:
        network.optimizer.build(network.trainable_variables)


def join_model(preprocessor, network, roles) -> keras.Model:
    """The served model: raw columns -> preprocessor -> network."""
    inputs = {name: keras.Input(shape=(), dtype=spec.dtype, name=name)
              for name, spec in preprocessor.input.items()}
    return keras.Model(inputs, network(preprocessor(inputs)), name="tabular_model")


def inference_copy(model: keras.Model) -> keras.Model:
    """A fresh copy of the full model with the same weights and no optimizer.

    Saving and exporting use it: the trained network carries its optimizer,
    whose state (and, after `lr_find`, a rebuilt variable list that TF's
    tracking rejects) does not belong in an inference artefact.
    """
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


class TabularLearner:
    """A tabular model with its data and training recipe.

    Args:
        model: the full model (raw columns in).
        roles: column roles.
        data: `TabularData` for training, or None for a loaded model.

    Example:
        >>> # learn = TabularLearner.from_df(df, "high_income", layers=[200, 100])
        >>> # learn.lr_find().suggestion; learn.fit_one_cycle(5, lr_max=1e-2)
        >>> # learn.predict(new_df)
    """

    def __init__(self, model, roles: ColumnRoles, data: TabularData | None = None):
        self.model, self.roles, self.data = model, roles, data
        self.preprocessor = model.get_layer("preprocessor")
        self.network = model.get_layer("network")

    @classmethod
    def from_df(cls, df, y_name, cat_names=None, cont_names=None, *, valid_pct=0.2,
                valid_idx=None, seed=42, batch_size=1024, wd=0.01, task=None, layers=(200, 100),
                steps_per_execution=1, jit_compile=False, **network_kwargs) -> "TabularLearner":
        """Infer roles, split, fit preprocessing on the training rows, build, compile.

        Args:
            df: the whole labelled frame.
            y_name: target column (a list for multi-target regression).
            cat_names, cont_names: column roles; inferred from dtypes when None.
            valid_pct: validation share for a random split (`random_split`).
            valid_idx: explicit validation row positions (overrides valid_pct).
            seed: split and shuffle seed.
            batch_size: rows per training step.
            wd: decoupled weight decay of AdamW.
            task: "binary", "multiclass" or "regression"; inferred when None.
            layers: hidden widths.
            steps_per_execution, jit_compile: passed to `compile`.
            **network_kwargs: `build_network` options (ps, embed_p, y_range, emb_szs, ...).
        """
        roles = infer_roles(df, y_name, cat_names, cont_names, task=task)
        if valid_idx is None:
            train_idx, valid_idx = random_split(len(df), valid_pct, seed)
        else:
            valid_idx = np.asarray(valid_idx)
            train_idx = np.setdiff1d(np.arange(len(df)), valid_idx)
        train_df, valid_df = df.iloc[train_idx], df.iloc[valid_idx]
        preprocessor = build_preprocessor(train_df, roles)
        n_out = len(roles.classes) if roles.task == "multiclass" else len(roles.y_names)
        network = build_network(roles.cat_names, cardinalities(preprocessor, roles),
                                continuous_width(preprocessor), task=roles.task,
                                n_outputs=n_out, layers=layers, **network_kwargs)
        compile_network(network, roles.task, wd=wd, steps_per_execution=steps_per_execution,
                        jit_compile=jit_compile)
        data = TabularData(preprocessor, roles, train_df, valid_df, batch_size, seed)
        build_training_state(network, data.train_x, data.train_y)
        return cls(join_model(preprocessor, network, roles), roles, data)

    def _require_data(self):
        if self.data is None:
            raise RuntimeError("This learner has no training data (it was loaded); "
                               "build one with TabularLearner.from_df to train.")
        return self.data

    def lr_find(self, num_steps=100, **kwargs):
        """dlkeras' LR finder on the training rows; returns the `LRFinder` callback.

        Runs with `steps_per_execution=1` (one loss per step for the curve) and
        puts the compiled setting back afterwards.
        """
        from dlkeras.recipes import lr_find

        compiled = self.network.steps_per_execution
        self.network.steps_per_execution = 1
        try:
            return lr_find(self.network, self._require_data().train_dataset(),
                           num_steps=num_steps, verbose=0, shuffle=False, **kwargs)
        finally:
            self.network.steps_per_execution = compiled
            self.network.make_train_function(force=True)

    def fit_one_cycle(self, epochs, lr_max=1e-2, *, callbacks=None, verbose=0, **kwargs):
        """dlkeras' one-cycle fit on the training rows, validating each epoch."""
        from dlkeras.recipes import fit_one_cycle

        data = self._require_data()
        return fit_one_cycle(self.network, data.train_dataset(), epochs=epochs, lr_max=lr_max,
                             validation_data=data.valid_dataset(), callbacks=callbacks,
                             verbose=verbose, shuffle=False, **kwargs)

    def evaluate(self, df: pd.DataFrame | None = None) -> dict:
        """Loss and metrics on `df` (labelled) or on the validation rows."""
        if df is None:
            dataset = self._require_data().valid_dataset()
            if dataset is None:
                raise ValueError("No validation rows: pass a labelled DataFrame to evaluate.")
        else:
            dataset = labelled_dataset(self.preprocessor, df, self.roles)
        return self.network.evaluate(dataset, verbose=0, return_dict=True)

    def predict(self, df: pd.DataFrame, batch_size: int = 4096) -> np.ndarray:
        """Probabilities (classification, one column per class) or values."""
        features = preprocess_frame(self.preprocessor, df, self.roles)
        outputs = self.network.predict(features, batch_size=batch_size, verbose=0)
        if self.roles.task == "binary":
            outputs = np.concatenate([1.0 - outputs, outputs], axis=1)
        return outputs

    def predict_frame(self, df: pd.DataFrame) -> pd.DataFrame:
        """Predictions as a DataFrame: class probabilities and label, or values."""
        outputs = self.predict(df)
        if self.roles.task == "regression":
            return pd.DataFrame(outputs, columns=self.roles.y_names, index=df.index)
        frame = pd.DataFrame(outputs, columns=[f"p_{c}" for c in self.roles.classes],
                             index=df.index)
        frame[self.roles.y_names[0]] = np.asarray(self.roles.classes)[outputs.argmax(axis=1)]
        return frame

    def save(self, directory) -> pathlib.Path:
        """Write `model.keras` and `roles.json` into `directory`."""
        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        inference_copy(self.model).save(directory / "model.keras")
        (directory / "roles.json").write_text(json.dumps(self.roles.to_dict(), indent=1))
        return directory

    @classmethod
    def load(cls, directory) -> "TabularLearner":
        """Inverse of `save` (no training data attached)."""
        directory = pathlib.Path(directory)
        for name in ("model.keras", "roles.json"):
            if not (directory / name).exists():
                raise FileNotFoundError(f"{directory / name} not found: is {directory} "
                                        "a directory written by TabularLearner.save?")
        model = keras.saving.load_model(directory / "model.keras", compile=False)
        roles = ColumnRoles.from_dict(json.loads((directory / "roles.json").read_text()))
        return cls(model, roles)

    def export(self, name: str, root=None) -> pathlib.Path:
        """SavedModel taking raw columns under `saved_models/<name>/<version>/`."""
        from apps.tabular.export import export_saved_model

        return export_saved_model(inference_copy(self.model), self.roles, name, root=root)
