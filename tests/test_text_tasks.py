"""Text app: the ULMFiT recipe (gradual unfreezing, per-group rates), data kinds, run folders."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from apps.text.classifier_task import TextClassifierTask  # noqa: E402
from apps.text.lm_task import LanguageModelTask  # noqa: E402
from dlkeras.keras_internals import learning_rate_object  # noqa: E402
from dlkeras.tasks import Task  # noqa: E402

VOCABULARY = ["[PAD]", "[UNK]", "[BOS]", "good", "bad", "film", "plot", "great", "dull", "a"]
GOOD = ["a good film", "great plot", "good good film", "a great film"]
BAD = ["a bad film", "dull plot", "bad bad film", "a dull film"]
DATA = (GOOD * 6 + BAD * 6, ["pos"] * 24 + ["neg"] * 24)


class TrainableRecorder(keras.callbacks.Callback):
    """Records, per fit, which layer groups train."""

    def __init__(self, groups):
        super().__init__()
        self.groups, self.trainable = groups, []

    def on_train_begin(self, logs=None):
        self.trainable.append([g.name for g in self.groups
                               if any(v.trainable for v in g.variables())])


class StageRecorder(TrainableRecorder):
    """Records, per fit, which layer groups train and each group's one-cycle peak rate."""

    def __init__(self, groups):
        super().__init__(groups)
        self.peaks = []

    def on_train_end(self, logs=None):
        self.peaks.append({o.name: learning_rate_object(o).lr_max
                           for o in self.model.optimizer.optimizers})


@pytest.fixture(scope="module")
def language_model():
    keras.utils.set_random_seed(0)
    lm = LanguageModelTask.create(VOCABULARY, embedding_dim=6, hidden_units=8, layers=3,
                                  batch_size=4, bptt=5)
    lm.fit_one_cycle(GOOD + BAD, epochs=1, lr_max=1e-2, verbose=0)
    return lm


@pytest.fixture(scope="module")
def ulmfit(language_model):
    """A classifier on the language model's encoder, trained by `train`, and its stages."""
    task = TextClassifierTask.create(classes=["neg", "pos"], encoder=language_model.encoder(),
                                     batch_size=8)
    recorder = StageRecorder(task.layer_groups)
    histories = task.train(DATA, epochs=5, lr_max=1e-2, callbacks=[recorder], verbose=0)
    return task, recorder, histories


def test_classifier_unfreezes_one_group_per_stage_with_rates_spread_by_2_6(ulmfit):
    task, recorder, histories = ulmfit
    assert task.layer_groups.names == ["embedding", "rnn_0", "rnn_1", "rnn_2", "head"]
    assert recorder.trainable == [["head"], ["rnn_2", "head"], ["rnn_1", "rnn_2", "head"],
                                  ["embedding", "rnn_0", "rnn_1", "rnn_2", "head"]]
    assert [len(h.history["loss"]) for h in histories] == [1, 1, 1, 2]
    for peaks, top in zip(recorder.peaks, [1e-2, 5e-3, 2.5e-3, 5e-4]):
        rates = [peaks[name] for name in task.layer_groups.names]
        np.testing.assert_allclose(rates, [top / 2.6 ** k for k in (4, 3, 2, 1, 0)], rtol=1e-6)


def test_gradual_unfreezing_needs_an_epoch_per_stage(language_model):
    task = TextClassifierTask.create(classes=["neg", "pos"], encoder=language_model.encoder(),
                                     batch_size=8)
    with pytest.raises(ValueError, match=r"epochs=3"):
        task.train(DATA, epochs=3)


def test_language_model_fine_tuning_trains_the_decoder_first(language_model):
    task = LanguageModelTask.create(encoder=language_model.encoder(), batch_size=4, bptt=5)
    np.testing.assert_array_equal(task.network.get_layer("embedding").embeddings,
                                  language_model.network.get_layer("embedding").embeddings)
    recorder = StageRecorder(task.layer_groups)
    task.train(GOOD + BAD, epochs=3, lr_max=1e-2, callbacks=[recorder], verbose=0)
    assert recorder.trainable == [["embedding"], ["rnn_0", "rnn_1", "rnn_2", "embedding"]]
    rates = [recorder.peaks[1][name] for name in task.layer_groups.names]
    np.testing.assert_allclose(rates, [1e-3 / 2.6 ** k for k in (3, 2, 1, 0)], rtol=1e-6)


def test_from_scratch_classifier_learns_a_word_rule():
    keras.utils.set_random_seed(0)
    task = TextClassifierTask.create(VOCABULARY, ["neg", "pos"], embedding_dim=8, hidden_units=8,
                                     layers=2, batch_size=8, drop_mult=0.0, matmul_dtype="float32")
    # 12 epochs: at 8, 2 of 6 seeds stopped short of the rule (one sentence wrong).
    task.train(DATA, epochs=12, lr_max=3e-2, verbose=0)
    probabilities = task.predict(["a good film", "a dull plot"])
    assert probabilities[0, 1] > 0.8 and probabilities[1, 0] > 0.8
    assert task.evaluate(DATA)["accuracy"] == 1.0


def test_soft_targets_sample_weights_and_data_frames():
    task = TextClassifierTask.create(VOCABULARY, ["neg", "pos"], embedding_dim=4, hidden_units=4,
                                     layers=1, batch_size=4, matmul_dtype="float32")
    texts = ["good film", "bad film", "great plot", "dull plot"]
    soft = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [1.0, 0.0]], "float32")
    weights = np.array([1.0, 0.0, 2.0, 1.0], "float32")
    (tokens, targets, got_weights), = task.dataset((texts, soft, weights), training=False)
    np.testing.assert_array_equal(targets, soft)
    np.testing.assert_array_equal(got_weights, weights)
    outputs = task.network(tokens).numpy()
    losses = -(soft * np.log(outputs)).sum(axis=1)
    expected = (losses * weights).sum() / len(texts)  # Keras: weighted sum over the batch size
    assert task.network.compute_loss(y=targets, y_pred=outputs,
                                     sample_weight=got_weights).numpy() == pytest.approx(
        expected, rel=1e-5)
    frame = pd.DataFrame({"review": texts, "y": ["pos", "neg", "pos", "neg"]})
    task.metadata.update(text_column="review", label_column="y")
    (_, targets), = task.dataset(frame, training=False)
    np.testing.assert_array_equal(targets.numpy().argmax(1), [1, 0, 1, 0])
    with pytest.raises(ValueError, match=r"Unknown label at row 0. Received: label='poss'"):
        task.dataset((texts, ["poss", "neg", "pos", "neg"]), training=False)


def test_multi_label_targets_and_outputs():
    task = TextClassifierTask.create(VOCABULARY, ["action", "comedy", "drama"], multi_label=True,
                                     embedding_dim=4, hidden_units=4, layers=1, batch_size=2)
    (_, targets), = task.dataset((["good film", "dull plot"], [["action", "drama"], []]),
                                 training=False)
    np.testing.assert_array_equal(targets, [[1, 0, 1], [0, 0, 0]])
    probabilities = task.predict(["good film"])
    assert probabilities.shape == (1, 3) and abs(probabilities.sum() - 1) > 1e-3  # sigmoids


def test_run_folder_reloads_both_tasks(language_model, ulmfit, tmp_path):
    task = ulmfit[0]
    task.save(tmp_path / "classifier")
    language_model.save(tmp_path / "lm")
    reloaded = Task.load(tmp_path / "classifier")
    assert isinstance(reloaded, TextClassifierTask) and reloaded.classes == ["neg", "pos"]
    np.testing.assert_allclose(reloaded.predict(["a good film", ""]),
                               task.predict(["a good film", ""]), atol=1e-6)
    lm = Task.load(tmp_path / "lm", compile=False)
    assert isinstance(lm, LanguageModelTask)
    assert lm.generate("a good", n_words=3, seed=1) == language_model.generate("a good", 3, seed=1)
    assert lm.generate("a good", n_words=3, seed=1).startswith("a good ")


def test_lr_find_sweeps_the_first_stage_only_and_puts_the_weights_back(language_model):
    """On a pretrained encoder the sweep trains the head only (the LM: the decoder only)."""
    task = TextClassifierTask.create(classes=["neg", "pos"], encoder=language_model.encoder(),
                                     batch_size=8)
    lm = LanguageModelTask.create(encoder=language_model.encoder(), batch_size=4, bptt=5)
    for sweeper, data, first_stage in ((task, DATA, ["head"]), (lm, GOOD + BAD, ["embedding"])):
        before = [w.numpy().copy() for w in sweeper.network.weights]
        recorder = TrainableRecorder(sweeper.layer_groups)
        finder = sweeper.lr_find(data, total_steps=6, callbacks=[recorder], verbose=0)
        assert recorder.trainable == [first_stage]
        assert len(finder.lrs) == 6
        # The core's contract: a float, or None with the reason (the CLI then
        # trains at the app's default rate, `TextClassifierTask.default_lr_max`).
        assert (finder.suggestion is None and finder.no_suggestion_reason) or \
            finder.suggestion > 0
        for saved, weight in zip(before, sweeper.network.weights):
            np.testing.assert_array_equal(weight.numpy(), saved)
