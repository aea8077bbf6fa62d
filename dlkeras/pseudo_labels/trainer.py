"""`PseudoLabelTrainer`: rounds of teacher predictions, selection and students on mixed batches.

Round 0 trains the task on its labelled examples alone (the labelled-only
baseline, and the first teacher). Each later round predicts the unlabelled
set with the current network (the teacher: with test-time augmentation if
`teacher_predict` adds it), selects pseudo-labels (`select_pseudo_labels`),
restarts the network from its starting weights (or keeps the teacher's),
and trains it with the task's own recipe (`Task.train`: one-cycle, or
`fine_tune` for pretrained bodies) on batches that are exactly
`pseudo_fraction` pseudo-labelled (`mix_batches`). The student is the next
round's teacher. An epoch is one pass over the labelled examples, or
over labelled and pseudo-labelled ones (`steps_per_epoch="all"`), or as
many steps as an epoch of round 0 (`"teacher"`: every student then trains
for exactly the labelled-only model's number of optimizer steps, so round
0 is also the same-compute baseline).

Works for any `dlkeras.tasks.Task` whose loss is a single-label
classification loss (`TargetFormat`), and for any compiled Keras classifier
(wrapped as a `ModelTask`; data are `(x, y)` arrays or `tf.data`).

Example:


>>> import keras, numpy as np
>>> keras.utils.set_random_seed(0)  # the starting weights decide how confident round 0 is
>>> rng = np.random.default_rng(0)
>>> x = rng.normal(size=(400, 2)).astype("float32"); y = (x.sum(axis=1) > 0).astype("int32")
>>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
>>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
>>> trainer = PseudoLabelTrainer(rounds=1, threshold=0.6)
>>> reports = trainer.fit(model, (x[:40], y[:40]), x[40:300], epochs=2, lr_max=0.05,
...                       validation_data=(x[300:], y[300:]), unlabelled_targets=y[40:300],
...                       batch_size=16, seed=0)
>>> [r.round for r in reports], reports[1].num_pseudo > 0, 0 <= reports[1].pseudo_accuracy <= 1
([0, 1], True, True)
"""

import pathlib
import time

import numpy as np

from dlkeras.data import BatchStream
from dlkeras.pseudo_labels.mixing import (
    batch_shares,
    labelled_examples,
    mix_batches,
    mix_stream,
    pseudo_examples,
)
from dlkeras.pseudo_labels.model_task import as_task, count_examples
from dlkeras.pseudo_labels.report import RoundReport, log_round
from dlkeras.pseudo_labels.selection import select_pseudo_labels
from dlkeras.pseudo_labels.targets import TargetFormat

STUDENT_STARTS = ("initial", "teacher")
EPOCHS = ("labelled", "all", "teacher")


def network_predict(network, features, batch_size=1024):
    """The teacher's outputs for prepared features (arrays or a `tf.data` of batches)."""
    return network.predict(features, batch_size=batch_size, verbose=0)


class PseudoLabelTrainer:
    """Pseudo-labelling rounds for any classifier task.

    Args:
        rounds: student rounds after the labelled-only round 0.
        threshold: keep pseudo-labels at least this confident (None: no threshold).
        top_fraction: keep at most this share of the unlabelled set, the most
            confident first; class-balanced quotas by default (see
            `select_pseudo_labels`). None: no cap.
            `threshold` and `top_fraction` also take a list with one value (or
            None) per student round: a curriculum such as
            `top_fraction=[0.5, 0.8, 1.0]` labels the easiest half first and
            more of the set as the teachers improve.
        class_balanced: equal per-class quotas for `top_fraction`.
        soft: train on the teacher's probabilities instead of its argmax
            (the task is compiled with a soft-target loss while training; its
            own loss is back for evaluating and saving).
        pseudo_weight: sample weight of each pseudo-labelled example (labelled: 1).
        pseudo_fraction: share of every batch that is pseudo-labelled.
        student_start: `"initial"`: each student starts from the weights the
            network had when `fit` began (a fresh student, as the teacher
            started); `"teacher"`: it continues from the teacher's weights.
        steps_per_epoch: batches per epoch of the mixed data: `"labelled"`
            (one pass over the labelled examples at their share of each
            batch), `"all"` (as many batches as the labelled plus selected
            pseudo-labelled examples fill; the labelled ones are repeated),
            `"teacher"` (`num_labelled // batch_size` batches: an epoch of round 0
            when its batches drop the ragged rest, as `ModelTask`'s do, so every
            student takes round 0's number of optimizer steps), or an integer.
    """

    def __init__(self, rounds=2, *, threshold=None, top_fraction=None, class_balanced=True,
                 soft=False, pseudo_weight=1.0, pseudo_fraction=0.25, student_start="initial",
                 steps_per_epoch="labelled"):
        if not isinstance(rounds, int) or rounds < 1:
            raise ValueError(f"`rounds` must be an integer >= 1. Received: rounds={rounds!r}")
        if student_start not in STUDENT_STARTS:
            raise ValueError(f"`student_start` must be one of {STUDENT_STARTS}. Received: "
                             f"student_start={student_start!r}")
        if not pseudo_weight > 0:
            raise ValueError(f"`pseudo_weight` must be > 0. Received: "
                             f"pseudo_weight={pseudo_weight!r}")
        batch_shares(64, pseudo_fraction)  # validates the fraction now
        if steps_per_epoch not in EPOCHS and not (
                isinstance(steps_per_epoch, int) and steps_per_epoch >= 1):
            raise ValueError(f"`steps_per_epoch` must be one of {EPOCHS} or an integer >= 1. "
                             f"Received: steps_per_epoch={steps_per_epoch!r}")
        self.rounds, self.threshold, self.top_fraction = rounds, threshold, top_fraction
        for round_index in range(1, rounds + 1):  # validates the criteria now
            select_pseudo_labels(np.eye(2), *self.criteria(round_index))
        self.class_balanced, self.soft, self.pseudo_weight = class_balanced, soft, pseudo_weight
        self.pseudo_fraction, self.student_start = pseudo_fraction, student_start
        self.steps_per_epoch = steps_per_epoch

    def criteria(self, round_index):
        """`(threshold, top_fraction)` of student round `round_index` (1 = the first)."""
        return tuple(_of_round(getattr(self, name), name, round_index, self.rounds)
                     for name in ("threshold", "top_fraction"))

    def get_config(self):
        """The settings, JSON-able (an app stores them in its run folder's metadata)."""
        return {"rounds": self.rounds, "threshold": _listed(self.threshold),
                "top_fraction": _listed(self.top_fraction), "class_balanced": self.class_balanced,
                "soft": self.soft, "pseudo_weight": self.pseudo_weight,
                "pseudo_fraction": self.pseudo_fraction, "student_start": self.student_start,
                "steps_per_epoch": self.steps_per_epoch}

    def fit(self, task, labelled, unlabelled, *, epochs, lr_max=None, validation_data=None,
            unlabelled_targets=None, train_teacher=True, teacher_predict=None,
            pseudo_transform=None, batch_size=None, seed=None, log_dir=None, on_round_end=None,
            validate_each_epoch=True, **train_kwargs):
        """Runs round 0 and `rounds` student rounds; the task ends as the last student.

        Args:
            task: a `dlkeras.tasks.Task`, or a compiled `keras.Model`.
            labelled: the task's labelled training data (its data kind, or `tf.data`).
            unlabelled: unlabelled inputs, in what `task.prepare_inputs` takes.
            epochs, lr_max: of every round (`Task.train`).
            validation_data: labelled data evaluated after each round (and
                after each epoch, unless `validate_each_epoch=False`).
            unlabelled_targets: true targets of `unlabelled`, when known, to
                report the pseudo-labels' accuracy (never used for training).
            train_teacher: False: the task is already trained; round 0 only evaluates it.
            teacher_predict: `(network, features) -> outputs`, e.g.
                `apps.image.tta.tta_predict`; default `network.predict`.
            pseudo_transform: applied to each batch of pseudo-labelled
                features (the augmentation the task applies to its labelled
                training batches), or None; one with a `position` parameter
                also gets the batch's position (`mixing.mix_batches`).
            batch_size: examples per step (default the task's).
            seed: shuffling seed.
            log_dir: TensorBoard folder: each round's training under
                `round_<r>/`, the round scalars under `pseudo_labels/`.
            on_round_end: called with each `RoundReport` as it is made.
            **train_kwargs: more `Task.train` arguments (`freeze_epochs`, `callbacks`,
                `verbose`: default 0).

        Returns:
            The `RoundReport`s, round 0 first.
        """
        task = as_task(task, batch_size)
        train_kwargs.setdefault("verbose", 0)
        run = _Run(self, task, labelled, validation_data, epochs, lr_max, batch_size, seed,
                   log_dir, train_kwargs)
        run.validate_each_epoch = validate_each_epoch
        features = task.prepare_inputs(unlabelled)
        reports = []
        for round_index in range(self.rounds + 1):
            started = time.perf_counter()
            if round_index == 0:
                if train_teacher:
                    run.train(labelled, round_index)
                report = run.report(round_index, None, unlabelled_targets, started,
                                    num_unlabelled=None)
            else:
                outputs = (teacher_predict or network_predict)(task.network, features)
                probabilities = run.target_format.probabilities(outputs)
                selection = select_pseudo_labels(probabilities, *self.criteria(round_index),
                                                 class_balanced=self.class_balanced)
                run.train_student(features, probabilities, selection, pseudo_transform,
                                  round_index)
                report = run.report(round_index, selection, unlabelled_targets, started,
                                    num_unlabelled=len(probabilities))
            reports.append(report)
            if log_dir is not None:
                log_round(report, pathlib.Path(log_dir) / "pseudo_labels")
            if on_round_end is not None:
                on_round_end(report)
        return reports


def _listed(value):
    """A per-round tuple as a list (JSON-able); anything else as is."""
    return list(value) if isinstance(value, tuple) else value


def _of_round(value, name, round_index, rounds):
    """A selection criterion's value for one round: the number, or the round's list entry."""
    if not isinstance(value, (list, tuple)):
        return value
    if len(value) != rounds:
        raise ValueError(f"`{name}` needs one value or one per student round ({rounds}). "
                         f"Received: {name}={list(value)!r}")
    return value[round_index - 1]


class _Run:
    """The state of one `fit`: the task, its data, its starting weights and compile options."""

    def __init__(self, trainer, task, labelled, validation_data, epochs, lr_max, batch_size,
                 seed, log_dir, train_kwargs):
        self.trainer, self.task, self.labelled = trainer, task, labelled
        self.validation_data, self.epochs, self.lr_max = validation_data, epochs, lr_max
        self.batch_size = int(batch_size or task.batch_size)
        self.seed, self.log_dir, self.train_kwargs = seed, log_dir, train_kwargs
        self.target_format = TargetFormat.of_task(task)
        self.start_weights = task.network.get_weights()
        self.num_labelled = None
        self.validate_each_epoch = True
        network = task.network
        self.compile_options = ({} if getattr(network, "optimizer", None) is None else
                                {"steps_per_execution": network.steps_per_execution,
                                 "jit_compile": network.jit_compile})

    def train(self, data, round_index, validation_data=None, loss=None, metrics=None):
        """One round of the task's recipe, from a fresh optimizer."""
        self.task.compile(loss=loss, metrics=metrics, **self.compile_options)
        log_dir = None if self.log_dir is None else str(pathlib.Path(self.log_dir)
                                                         / f"round_{round_index}")
        seed = None if self.seed is None else self.seed + round_index
        if validation_data is None:
            validation_data = self.validation_data
        self.task.train(data, epochs=self.epochs, lr_max=self.lr_max,
                        validation_data=validation_data if self.validate_each_epoch else None,
                        batch_size=self.batch_size, seed=seed, log_dir=log_dir,
                        **self.train_kwargs)

    def train_student(self, features, probabilities, selection, pseudo_transform, round_index):
        trainer, target_format = self.trainer, self.target_format
        if trainer.student_start == "initial":
            self.task.network.set_weights(self.start_weights)
        if not len(selection):
            self.train(self.labelled, round_index)  # nothing confident enough: labelled only
            return
        soft = trainer.soft
        chosen = selection.probabilities
        targets = (target_format.soft_targets(chosen) if soft
                   else target_format.hard_targets(chosen))
        n_labelled, _ = batch_shares(self.batch_size, trainer.pseudo_fraction)
        seed = None if self.seed is None else self.seed + round_index
        batches = self.task.dataset(self.labelled, training=True, batch_size=n_labelled,
                                    seed=seed)
        pseudo = pseudo_examples(features, targets, selection.indices, trainer.pseudo_weight,
                                 num_examples=len(probabilities), seed=seed)
        steps = self.steps_per_epoch(len(selection), n_labelled)
        to_soft = target_format.to_soft if soft else None
        if isinstance(batches, BatchStream):  # the task's own resumable, reshuffling stream
            mixed = mix_stream(batches, pseudo, self.batch_size, trainer.pseudo_fraction, steps,
                               pseudo_transform, to_soft)
        else:
            mixed = mix_batches(labelled_examples(batches, to_soft), pseudo, self.batch_size,
                                trainer.pseudo_fraction, steps, pseudo_transform)
        if not soft:
            self.train(mixed, round_index)
            return
        valid = None
        if self.validation_data is not None:
            valid = self.task.dataset(self.validation_data, training=False,
                                      batch_size=self.batch_size).map(
                lambda x, y, *weights: (x, target_format.to_soft(y), *weights))
        self.train(mixed, round_index, valid, *target_format.soft_loss_and_metrics())
        self.task.compile(**self.compile_options)  # the task's own loss, to evaluate and save

    def steps_per_epoch(self, num_pseudo, n_labelled):
        steps = self.trainer.steps_per_epoch
        if isinstance(steps, int):
            return steps
        if self.num_labelled is None:
            self.num_labelled = count_examples(self.task, self.labelled)
        if steps == "all":
            return max(1, -(-(self.num_labelled + num_pseudo) // self.batch_size))
        if steps == "teacher":
            return max(1, self.num_labelled // self.batch_size)
        return max(1, self.num_labelled // n_labelled)

    def report(self, round_index, selection, unlabelled_targets, started, num_unlabelled):
        validation = ({} if self.validation_data is None else
                      self.task.evaluate(self.validation_data, batch_size=self.batch_size))
        classes = self.target_format.num_classes
        if selection is None:
            return RoundReport(round_index, 0, num_unlabelled or 0, None, [0] * classes,
                               validation, time.perf_counter() - started)
        accuracy = None
        if unlabelled_targets is not None:
            accuracy = selection.accuracy(self.target_format.classes_of(unlabelled_targets))
        return RoundReport(round_index, len(selection), num_unlabelled, accuracy,
                           selection.class_counts(), validation, time.perf_counter() - started)
