"""dlkeras.pseudo_labels: selection, target formats, the batch mixer, rounds and reports."""
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras.pseudo_labels import (
    ModelTask,
    PseudoLabelTrainer,
    RoundReport,
    TargetFormat,
    batch_shares,
    labelled_examples,
    log_round,
    mix_batches,
    plot_rounds,
    pseudo_examples,
    select_pseudo_labels,
)
from dlkeras.tasks import Task

# --- Selection -------------------------------------------------------------------------


def hand_selection(probabilities, threshold, top_fraction, balanced):
    """The selection rule written as plain loops."""
    count, classes = probabilities.shape
    ranked = sorted(range(count), key=lambda i: (-probabilities[i].max(), i))
    passing = [i for i in ranked if threshold is None or probabilities[i].max() >= threshold]
    if top_fraction is None:
        return sorted(passing)
    if not balanced:
        return sorted(passing[:math.floor(top_fraction * count + 1e-9)])
    quota = math.floor(top_fraction * count / classes + 1e-9)
    chosen = []
    for c in range(classes):
        chosen += [i for i in passing if probabilities[i].argmax() == c][:quota]
    return sorted(chosen)


@pytest.mark.parametrize("threshold,top_fraction,balanced", [
    (0.6, None, True), (None, 0.3, True), (None, 0.3, False), (0.5, 0.5, True), (None, None, True)])
def test_selection_matches_the_rule_written_as_loops(threshold, top_fraction, balanced):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 4)) * 2
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    probabilities[10] = probabilities[11]  # a tie: the earlier example wins
    selection = select_pseudo_labels(probabilities, threshold, top_fraction, balanced)
    assert selection.indices.tolist() == hand_selection(probabilities, threshold, top_fraction,
                                                        balanced)
    assert selection.classes.tolist() == probabilities[selection.indices].argmax(1).tolist()


def test_class_balanced_selection_keeps_the_majority_class_from_swallowing_the_rest():
    rng = np.random.default_rng(1)
    predicted = np.r_[np.zeros(900, int), np.ones(60, int), np.full(40, 2)]
    confidence = np.where(predicted == 0, rng.uniform(0.9, 1.0, 1000), rng.uniform(0.5, 0.8, 1000))
    probabilities = np.full((1000, 3), 0.0)
    probabilities[np.arange(1000), predicted] = confidence
    probabilities[np.arange(1000), (predicted + 1) % 3] = 1 - confidence
    balanced = select_pseudo_labels(probabilities, top_fraction=0.3)
    assert balanced.class_counts() == [100, 60, 40]  # quota floor(0.3 * 1000 / 3) = 100
    assert probabilities[balanced.indices[balanced.classes == 0]].max(1).min() >= \
        np.sort(confidence[predicted == 0])[-100]
    ranked = select_pseudo_labels(probabilities, top_fraction=0.3, class_balanced=False)
    assert ranked.class_counts() == [300, 0, 0]
    truth = predicted.copy()
    truth[:450] = 1  # half the majority predictions are wrong
    assert balanced.accuracy(truth) == pytest.approx(
        np.mean(truth[balanced.indices] == balanced.classes))


@pytest.mark.parametrize("kwargs,fragment", [
    ({"threshold": 1.5}, "threshold=1.5"), ({"top_fraction": 0.0}, "top_fraction=0.0")])
def test_selection_errors_quote_the_bad_value(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        select_pseudo_labels(np.eye(3), **kwargs)
    with pytest.raises(ValueError, match="NaN"):
        select_pseudo_labels(np.full((2, 2), np.nan))


# --- Target formats --------------------------------------------------------------------


def softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("loss,outputs,kind,from_logits", [
    ("sparse_categorical_crossentropy", 3, "sparse", False),
    (keras.losses.SparseCategoricalCrossentropy(from_logits=True), 3, "sparse", True),
    (keras.losses.CategoricalCrossentropy(), 4, "categorical", False),
    ("binary_crossentropy", 1, "binary", False),
    (keras.losses.BinaryCrossentropy(from_logits=True), 1, "binary", True),
])
def test_target_format_is_read_from_the_loss(loss, outputs, kind, from_logits):
    target_format = TargetFormat.from_loss(loss, outputs)
    assert (target_format.kind, target_format.from_logits) == (kind, from_logits)
    raw = np.random.default_rng(0).normal(size=(5, outputs)).astype("float32")
    if kind == "binary":
        positive = 1 / (1 + np.exp(-raw[:, 0])) if from_logits else raw[:, 0]
        expected = np.stack([1 - positive, positive], 1)
    else:
        expected = softmax(raw) if from_logits else raw
    probabilities = target_format.probabilities(raw)
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5, atol=1e-6)
    hard = target_format.hard_targets(probabilities)
    assert target_format.classes_of(hard).tolist() == expected.argmax(1).tolist()


@pytest.mark.parametrize("loss,outputs,fragment", [
    ("mse", 1, "loss='mse'"), ("binary_crossentropy", 3, "multi-label")])
def test_regression_and_multi_label_losses_are_refused(loss, outputs, fragment):
    with pytest.raises(ValueError, match=fragment):
        TargetFormat.from_loss(loss, outputs)


def test_soft_targets_train_on_probabilities_with_the_pseudo_weight():
    target_format = TargetFormat.from_loss("sparse_categorical_crossentropy", 3)
    labelled = target_format.to_soft(np.array([0, 2], "int32")).numpy()
    teacher = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]], "float32")
    targets = np.concatenate([labelled, target_format.soft_targets(teacher)])
    weights = np.array([1.0, 1.0, 0.5, 0.5], "float32")
    predicted = softmax(np.random.default_rng(0).normal(size=(4, 3))).astype("float32")
    loss, _ = target_format.soft_loss_and_metrics()
    expected = np.sum(weights * -(targets * np.log(predicted)).sum(axis=1)) / 4
    assert float(loss(targets, predicted, sample_weight=weights)) == pytest.approx(expected,
                                                                                  rel=1e-5)
    binary = TargetFormat.from_loss("binary_crossentropy", 1)
    assert binary.soft_targets(teacher[:, :2] / teacher[:, :2].sum(1, keepdims=True)).tolist() \
        == pytest.approx([1 / 3, 0.5])


# --- The mixer -------------------------------------------------------------------------

def id_examples(num_labelled=30, num_unlabelled=50):
    """Labelled ids 0.., unlabelled ids 100..; the id is the feature."""
    labelled_x = np.arange(num_labelled, dtype="float32")[:, None]
    labelled = tf.data.Dataset.from_tensor_slices((labelled_x, np.arange(num_labelled) % 3))
    unlabelled_x = (100 + np.arange(num_unlabelled, dtype="float32"))[:, None]
    return labelled.shuffle(num_labelled, seed=1).batch(7), unlabelled_x


@pytest.mark.parametrize("batch_size,fraction", [(8, 0.25), (12, 1 / 3), (10, 0.5)])
@pytest.mark.parametrize("features_kind", ["arrays", "tf.data"])
def test_every_batch_has_exactly_the_requested_pseudo_share(batch_size, fraction, features_kind):
    labelled_batches, unlabelled_x = id_examples()
    selected = np.arange(0, 50, 2)
    assigned = (selected * 7) % 3
    features = (unlabelled_x if features_kind == "arrays" else
                tf.data.Dataset.from_tensor_slices(unlabelled_x).batch(9))
    pseudo = pseudo_examples(features, assigned, selected, weight=0.25, num_examples=50, seed=3)
    n_labelled, n_pseudo = batch_shares(batch_size, fraction)
    assert n_pseudo == round(batch_size * fraction)
    steps = 30 // n_labelled
    mixed = mix_batches(labelled_examples(labelled_batches), pseudo, batch_size, fraction,
                        steps_per_epoch=steps)
    assert int(mixed.cardinality()) == steps
    epochs = []
    for _ in range(2):
        seen = []
        for x, y, w in mixed:
            ids, y, w = x.numpy()[:, 0], y.numpy(), w.numpy()
            is_pseudo = ids >= 100
            assert is_pseudo.sum() == n_pseudo and is_pseudo[n_labelled:].all()
            np.testing.assert_array_equal(w, np.where(is_pseudo, 0.25, 1.0))
            positions = ids[is_pseudo].astype(int) - 100
            assert set(positions) <= set(selected)
            np.testing.assert_array_equal(y[is_pseudo], (positions * 7) % 3)
            np.testing.assert_array_equal(y[~is_pseudo], ids[~is_pseudo].astype(int) % 3)
            seen += ids[~is_pseudo].tolist()
        assert len(seen) == len(set(seen)) == steps * n_labelled  # each labelled once an epoch
        epochs.append(seen)
    assert epochs[0] != epochs[1]  # reshuffled each epoch


def test_labelled_sample_weights_are_kept():
    batches = tf.data.Dataset.from_tensor_slices(
        (np.zeros((6, 1), "float32"), np.zeros(6, "int32"), np.arange(6, dtype="float64"))).batch(3)
    weights = [float(w) for _, _, w in labelled_examples(batches)]
    assert weights == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_mixer_casts_pseudo_examples_to_the_labelled_dtypes_and_keeps_dicts():
    features = {"codes": np.arange(20, dtype="int32")[:, None],
                "values": np.ones((20, 2), "float32")}
    labelled = tf.data.Dataset.from_tensor_slices((features, np.zeros(20, "int32"))).batch(5)
    pseudo = pseudo_examples({"codes": np.full((6, 1), 99, "int64"), "values": np.zeros((6, 2))},
                             np.ones(3, "int64"), [0, 2, 4])
    x, y, w = next(iter(mix_batches(labelled_examples(labelled), pseudo, 8, 0.25)))
    assert (x["codes"].dtype, x["values"].dtype, y.dtype) == (tf.int32, tf.float32, tf.int32)
    assert x["codes"].numpy()[6:, 0].tolist() == [99, 99] and y.numpy()[6:].tolist() == [1, 1]


def test_a_transform_with_a_position_gets_each_mixed_batch_position_also_when_resumed():
    from dlkeras.data import training_batches
    from dlkeras.pseudo_labels.mixing import mix_stream

    stream = training_batches(np.zeros((12, 2), "float32"), np.zeros(12, "int32"), 6, seed=1)
    pseudo = pseudo_examples(np.ones((10, 2), "float32"), np.ones(4, "int32"),
                             indices=[1, 2, 5, 7], seed=0)

    def shifted(features, position):  # pseudo rows carry 1 + 100 * position
        return features + 100.0 * tf.cast(position, tf.float32)

    mixed = mix_stream(stream, pseudo, batch_size=8, pseudo_fraction=0.25,
                       pseudo_transform=shifted)
    for start in (0, 3):
        for k, (x, _, _) in enumerate(mixed.dataset(start).take(3), start=start):
            np.testing.assert_array_equal(x.numpy()[:6], 0.0)
            np.testing.assert_array_equal(x.numpy()[6:], 1.0 + 100.0 * k)
    plain = mix_stream(stream, pseudo, batch_size=8, pseudo_fraction=0.25,
                       pseudo_transform=lambda features: features * 3.0)
    np.testing.assert_array_equal(next(iter(plain.dataset(2)))[0].numpy()[6:], 3.0)


def test_mixer_pads_features_of_varying_length_like_token_ids():
    lengths = [1, 4, 2, 3, 5, 2, 1, 3]
    tokens = tf.ragged.constant([[i + 1] * n for i, n in enumerate(lengths)], dtype=tf.int32)
    rows = tf.data.Dataset.from_tensor_slices((tokens, np.arange(8) % 2)).map(
        lambda t, y: (t, y))  # ragged slices come out as dense rows of their own length
    labelled = rows.padded_batch(4)  # each batch padded to its own longest
    pseudo_tokens = np.zeros((4, 6), "int32")
    for row, n in enumerate([6, 2, 3, 1]):
        pseudo_tokens[row, :n] = 100 + row
    pseudo = pseudo_examples(pseudo_tokens, np.ones(4, "int64"), [0, 1, 2, 3])
    for x, _, _ in mix_batches(labelled_examples(labelled), pseudo, 8, 0.25, steps_per_epoch=2):
        x = x.numpy()
        assert x.shape[1] == 6  # the pseudo rows are 6 wide, the labelled ones are padded
        for row in x:
            ids = set(row[row > 0].tolist())
            assert len(ids) == 1
            token = ids.pop()
            expected = lengths[token - 1] if token < 100 else [6, 2, 3, 1][token - 100]
            assert (row == token).sum() == expected


def test_mixer_refuses_pseudo_examples_that_do_not_fit():
    labelled_batches, unlabelled_x = id_examples()
    soft = pseudo_examples(unlabelled_x, np.full((2, 3), 1 / 3, "float32"), [0, 1])
    with pytest.raises(ValueError, match="soft format"):
        mix_batches(labelled_examples(labelled_batches), soft, 8)
    other = pseudo_examples({"a": unlabelled_x}, np.zeros(2), [0, 1])
    with pytest.raises(ValueError, match="structure"):
        mix_batches(labelled_examples(labelled_batches), other, 8)
    with pytest.raises(ValueError, match="pseudo_fraction=0.01"):
        batch_shares(8, 0.01)


# --- Rounds ----------------------------------------------------------------------------

def gaussian_mixture(seed, count, dims=20, shift=1.5):
    """Two classes whose means differ along the first axis only (Bayes accuracy 0.93)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count).astype("int32")
    points = rng.normal(size=(count, dims)).astype("float32")
    points[:, 0] += np.where(labels == 1, shift, -shift)
    return points, labels


def linear_classifier(dims=20, seed=0):
    from dlkeras.optimizers import ScheduledAdamW

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((dims,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=ScheduledAdamW(weight_decay=0.0),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class WeightsAtTrainBegin(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = []

    def on_train_begin(self, logs=None):
        self.weights.append([w.copy() for w in self.model.get_weights()])


def test_a_round_improves_a_toy_problem_where_the_answer_is_known():
    # 32 labels in 20 dimensions give a noisy direction; fitting the teacher's labels on
    # 2,000 points pulls the boundary into the low-density gap between the two clusters
    # (self-training on a Gaussian mixture). An epoch covers every pseudo-label ("all"):
    # the student must see them all to move (on data seeds 0..4 the gain was +1.7..+6.6
    # points; these data gain 6.6).
    labelled, unlabelled, valid = (gaussian_mixture(0, 32), gaussian_mixture(1, 2000),
                                   gaussian_mixture(2, 1000))
    model = linear_classifier()
    teacher_outputs = []
    reports = PseudoLabelTrainer(rounds=1, pseudo_fraction=0.5, steps_per_epoch="all").fit(
        model, labelled, unlabelled[0], epochs=4, lr_max=0.05, validation_data=valid,
        unlabelled_targets=unlabelled[1], batch_size=8, seed=0,
        on_round_end=lambda r: teacher_outputs.append(model.predict(unlabelled[0], verbose=0)))
    teacher, student = reports
    assert student.validation["accuracy"] >= teacher.validation["accuracy"] + 0.02
    hand = float(np.mean(teacher_outputs[0].argmax(1) == unlabelled[1]))
    assert student.pseudo_accuracy == pytest.approx(hand)
    assert student.num_pseudo == 2000 and sum(student.class_counts) == 2000
    predicted = model.predict(valid[0], verbose=0).argmax(1)
    assert student.validation["accuracy"] == pytest.approx(np.mean(predicted == valid[1]))


@pytest.mark.parametrize("student_start", ["initial", "teacher"])
def test_any_keras_classifier_on_tf_data_and_where_students_start(student_start):
    (x, y), (xv, yv) = gaussian_mixture(3, 64, dims=4), gaussian_mixture(4, 64, dims=4)
    unlabelled = tf.data.Dataset.from_tensor_slices(gaussian_mixture(5, 40, dims=4)[0]).batch(16)
    labelled = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(64, seed=0).batch(16)
    model = linear_classifier(dims=4)
    initial = model.get_weights()
    recorder, ends = WeightsAtTrainBegin(), []
    reports = PseudoLabelTrainer(rounds=1, top_fraction=0.5, student_start=student_start,
                                 steps_per_epoch=3).fit(
        model, labelled, unlabelled, epochs=1, lr_max=1e-2, validation_data=(xv, yv),
        batch_size=16, callbacks=[recorder],
        on_round_end=lambda r: ends.append(model.get_weights()))
    assert reports[1].num_pseudo == 20 and reports[1].class_counts == [10, 10]
    assert reports[1].pseudo_accuracy is None
    expected = initial if student_start == "initial" else ends[0]
    for got, want in zip(recorder.weights[1], expected):
        np.testing.assert_array_equal(got, want)


def test_soft_round_trains_on_probabilities_then_restores_the_task_loss():
    labelled, unlabelled, valid = (gaussian_mixture(0, 32, dims=4), gaussian_mixture(1, 64, dims=4),
                                   gaussian_mixture(2, 64, dims=4))
    task = ModelTask.from_model(linear_classifier(dims=4), batch_size=8)
    losses = []

    class LossAtTrainBegin(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            losses.append(type(self.model.loss).__name__)

    reports = PseudoLabelTrainer(rounds=1, soft=True, pseudo_weight=0.5).fit(
        task, labelled, unlabelled[0], epochs=1, lr_max=1e-2, validation_data=valid,
        callbacks=[LossAtTrainBegin()])
    assert losses == ["str", "CategoricalCrossentropy"]  # the task's own, then the soft one
    assert task.network.loss == "sparse_categorical_crossentropy"
    predicted = task.network.predict(valid[0], verbose=0).argmax(1)
    assert reports[1].validation["accuracy"] == pytest.approx(np.mean(predicted == valid[1]))


def test_model_task_run_folder_round_trip_and_compile_override(tmp_path):
    task = ModelTask.from_model(linear_classifier(dims=4), batch_size=8)
    task.compile(loss=keras.losses.CategoricalCrossentropy(), metrics=[])
    assert isinstance(task.network.loss, keras.losses.CategoricalCrossentropy)
    task.compile()
    assert task.network.loss == "sparse_categorical_crossentropy"
    x = gaussian_mixture(0, 8, dims=4)[0]
    task.save(tmp_path / "run")
    again = Task.load(tmp_path / "run")
    assert isinstance(again, ModelTask) and again.loss_and_metrics() == task.loss_and_metrics()
    np.testing.assert_allclose(again.predict(x), task.predict(x), rtol=1e-6)
    with pytest.raises(ValueError, match="not compiled"):
        ModelTask.from_model(keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)]))


class StepsPerFit(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.steps = []

    def on_train_begin(self, logs=None):
        self.steps.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.steps[-1] += 1


@pytest.mark.parametrize("steps_per_epoch,student_steps", [
    ("teacher", 5 * 2), ("labelled", 10 * 2), ("all", 13 * 2), (3, 3 * 2)])
def test_student_epochs_in_steps(steps_per_epoch, student_steps):
    # 40 labelled examples at batch 8: round 0 takes 40 // 8 = 5 steps an epoch. A student
    # batch holds 4 labelled + 4 pseudo-labelled: "labelled" = 40 // 4 = 10 steps, "all" =
    # ceil((40 + 60) / 8) = 13, "teacher" = round 0's 5; over 2 epochs.
    (x, y), unlabelled = gaussian_mixture(0, 40, dims=4), gaussian_mixture(1, 60, dims=4)[0]
    counter = StepsPerFit()
    PseudoLabelTrainer(rounds=1, pseudo_fraction=0.5, steps_per_epoch=steps_per_epoch).fit(
        linear_classifier(dims=4), (x, y), unlabelled, epochs=2, lr_max=1e-2, batch_size=8,
        seed=0, callbacks=[counter])
    assert counter.steps == [5 * 2, student_steps]


def test_per_round_criteria_select_exact_counts_each_round():
    # A fixed teacher: 30 examples for class 0 and 10 for class 1, confidences 0.51..0.99.
    confidence = np.linspace(0.51, 0.99, 40)
    predicted = np.r_[np.zeros(30, int), np.ones(10, int)]
    probabilities = np.where(predicted[:, None] == np.arange(2), confidence[:, None],
                             1 - confidence[:, None]).astype("float32")
    (x, y), unlabelled = gaussian_mixture(0, 16, dims=4), gaussian_mixture(1, 40, dims=4)[0]
    trainer = PseudoLabelTrainer(rounds=3, threshold=[0.9, None, 0.6],
                                 top_fraction=[None, 0.5, 1.0], steps_per_epoch=1)
    reports = trainer.fit(linear_classifier(dims=4), (x, y), unlabelled, epochs=1, lr_max=1e-2,
                          batch_size=8, teacher_predict=lambda network, f: probabilities)
    # Round 1: confidence >= 0.9 keeps only examples of class 1 (class 0 stops at 0.87).
    expected_1 = int(np.sum(confidence >= 0.9))
    assert reports[1].num_pseudo == expected_1 and reports[1].class_counts == [0, expected_1]
    # Round 2: quotas of floor(0.5 * 40 / 2) = 10 per class: class 0's 10, class 1's 10.
    assert reports[2].num_pseudo == 20 and reports[2].class_counts == [10, 10]
    # Round 3: confidence >= 0.6, then quotas of 20: class 0 keeps 20 of its passing ones.
    passing_0 = int(np.sum(confidence[:30] >= 0.6))
    assert passing_0 > 20 and reports[3].class_counts == [20, 10]
    assert trainer.get_config()["top_fraction"] == [None, 0.5, 1.0]
    with pytest.raises(ValueError, match=r"one per student round \(2\).*top_fraction=\[0.5\]"):
        PseudoLabelTrainer(rounds=2, top_fraction=[0.5])
    with pytest.raises(ValueError, match="threshold=1.5"):
        PseudoLabelTrainer(rounds=2, threshold=[0.9, 1.5])


@pytest.mark.parametrize("kwargs,fragment", [
    ({"rounds": 0}, "rounds=0"), ({"student_start": "fresh"}, "student_start='fresh'"),
    ({"steps_per_epoch": "some"}, "steps_per_epoch='some'"), ({"pseudo_fraction": 1.0},
                                                               "pseudo_fraction=1.0")])
def test_trainer_settings_are_checked_up_front(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        PseudoLabelTrainer(**kwargs)


# --- Reports ---------------------------------------------------------------------------

def test_round_reports_go_to_tensorboard_and_a_figure(tmp_path):
    rounds = [RoundReport(0, 0, 0, None, [0, 0, 0], {"accuracy": 0.7, "loss": 0.9}, 1.0),
              RoundReport(1, 30, 50, 0.9, [10, 12, 8], {"accuracy": 0.8, "loss": 0.6}, 2.0)]
    for report in rounds:
        log_round(report, tmp_path)
    scalars = {}
    for path in tmp_path.glob("events.out.tfevents*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":
                    scalars[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    assert scalars[("validation/accuracy", 1)] == pytest.approx(0.8)
    assert scalars[("pseudo_labels/count", 1)] == 30
    assert scalars[("pseudo_labels/accuracy", 1)] == pytest.approx(0.9)
    assert ("pseudo_labels/accuracy", 0) not in scalars
    figure = plot_rounds(rounds, class_names=["a", "b", "c"])
    lines = figure.axes[0].get_lines()
    assert lines[0].get_ydata().tolist() == [0.7, 0.8] and lines[1].get_ydata().tolist() == [0.9]
    assert [bar.get_height() for bar in figure.axes[1].patches] == [10, 12, 8]


class InputProbe(keras.layers.Layer):
    """Counts the rows it sees above 50, in training and in inference, and passes them on."""

    def build(self, input_shape):
        self.counts = {mode: [self.add_weight(shape=(), initializer="zeros", trainable=False,
                                              name=f"{mode}_{what}") for what in ("high", "all")]
                       for mode in ("training", "inference")}

    def call(self, x, training=False):
        high = keras.ops.sum(keras.ops.cast(keras.ops.max(x, axis=1) > 50, "float32"))
        rows = keras.ops.sum(keras.ops.ones_like(x[:, 0]))
        for mode, on in (("training", training), ("inference", not training)):
            if on:
                self.counts[mode][0].assign_add(high)
                self.counts[mode][1].assign_add(rows)
        return x

    def read(self):
        return {mode: [float(v.numpy()) for v in values] for mode, values in self.counts.items()}


def test_student_noise_reaches_only_the_pseudo_labelled_training_inputs():
    # `pseudo_transform` (the student's augmentation of pseudo-labelled inputs) shifts them by
    # +100: the probe must see shifted rows only while the student trains, exactly the pseudo
    # share of each batch, and never in round 0, the teacher's predictions or validation.
    from dlkeras.optimizers import ScheduledAdamW

    (x, y), valid = gaussian_mixture(0, 32, dims=4), gaussian_mixture(2, 16, dims=4)
    unlabelled = gaussian_mixture(1, 48, dims=4)[0]
    probe = InputProbe()
    model = keras.Sequential([keras.Input((4,)), probe, keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=ScheduledAdamW(weight_decay=0.0),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    seen, raw = [], []

    def teacher(network, features):
        raw.append(float(np.max(features)))
        return network.predict(features, verbose=0)

    PseudoLabelTrainer(rounds=1, pseudo_fraction=0.25, steps_per_epoch=5).fit(
        model, (x, y), unlabelled, epochs=2, lr_max=1e-2, batch_size=8, seed=0,
        validation_data=valid, teacher_predict=teacher,
        pseudo_transform=lambda features: features + 100.0,
        on_round_end=lambda report: seen.append(probe.read()))
    round_0, round_1 = seen
    assert round_0["training"] == [0.0, 32.0 * 2]  # 2 epochs of 4 batches of 8, nothing shifted
    # The student restarts from the initial weights (the probe's counts too): 2 epochs of 5
    # batches of 8, 2 pseudo-labelled (shifted) rows in each.
    assert round_1["training"] == [2.0 * 10, 8.0 * 10]
    assert round_0["inference"][0] == round_1["inference"][0] == 0.0  # validation: clean
    assert round_1["inference"][1] > 0
    assert raw and raw[0] < 10  # the teacher predicted the clean inputs
