"""Text app: top losses, confusion matrix and integrated-gradients word importance."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from apps.text import interpret  # noqa: E402
from apps.text.classifier_task import TextClassifierTask  # noqa: E402
from apps.text.network import classify_embedded  # noqa: E402
from apps.text.report import write_reports  # noqa: E402

VOCABULARY = ["[PAD]", "[UNK]", "[BOS]", "good", "bad", "film", "plot", "great", "dull", "a",
              "##s", "<", ">", "/"]
DATA = (["a good film", "great plot", "good films", "a bad film", "dull plot", "bad films"] * 6,
        ["pos", "pos", "pos", "neg", "neg", "neg"] * 6)


@pytest.fixture(scope="module")
def task():
    keras.utils.set_random_seed(0)
    task = TextClassifierTask.create(VOCABULARY, ["neg", "pos"], embedding_dim=8, hidden_units=8,
                                     layers=1, batch_size=6, drop_mult=0.0, matmul_dtype="float32")
    task.train(DATA, epochs=6, lr_max=3e-2, verbose=0)
    return task


def test_classify_embedded_is_the_network(task):
    tokens = task.prepare_inputs(["a good film", "dull"])
    vectors = task.network.get_layer("embedding")(tokens)
    np.testing.assert_allclose(classify_embedded(task.network, vectors, tokens != 0),
                               task.network(tokens), atol=1e-6)


def test_importances_add_up_to_the_probability_change(task):
    ids = task.tokenizer.tokenize(["a good films"])[0]
    importance, class_index, probability = interpret.integrated_gradients(task.network, ids,
                                                                          steps=256)
    tokens = tf.constant(ids[None])
    zeros = tf.zeros_like(task.network.get_layer("embedding")(tokens))
    baseline = classify_embedded(task.network, zeros, tokens != 0)[0, class_index].numpy()
    assert class_index == 1 and probability == pytest.approx(task.predict(["a good films"])[0, 1],
                                                             abs=1e-5)
    # Completeness of integrated gradients (midpoint rule, 256 steps).
    assert importance.sum() == pytest.approx(probability - baseline, abs=2e-3)
    words, values, label, _ = interpret.token_importance(task, "a good films", steps=256)
    assert words == ["a", "good", "films"] and label == "pos"
    np.testing.assert_allclose(values, [importance[1], importance[2],
                                        importance[3] + importance[4]], atol=1e-6)
    assert values[1] > 0  # "good" argues for "pos"


def test_html_page_and_tensorboard_summary(task, tmp_path):
    explanations = interpret.write_importance(task, ["a bad film", "<b>good</b>"],
                                              html_path=tmp_path / "x.html",
                                              log_dir=tmp_path / "logs")
    page = (tmp_path / "x.html").read_text()
    assert "&lt;" in page and "<b>good</b>" not in page  # text is escaped
    assert page.count("<span") == sum(len(e[0]) for e in explanations)
    assert "rgba(220, 0, 0" in page or "rgba(0, 160, 0" in page
    events = list((tmp_path / "logs").glob("events.out.tfevents.*"))
    assert events
    tags = [v.tag for e in tf.compat.v1.train.summary_iterator(str(events[0]))
            for v in e.summary.value]
    assert "token_importance" in tags


def test_top_losses_and_confusion_matrix(task, tmp_path):
    data = (["a good film", "a bad film", "good plot"], ["neg", "neg", "pos"])
    losses = interpret.top_losses(task, data, k=2)
    assert losses["text"].tolist()[0] == "a good film"  # labelled neg, predicted pos
    assert list(losses["loss"]) == sorted(losses["loss"], reverse=True)
    probabilities = task.predict(data[0])
    expected = -np.log(probabilities[0, 0])
    assert losses["loss"].iloc[0] == pytest.approx(expected, rel=1e-4)
    paths = write_reports(task, data, tmp_path)
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 1000
    assert set(paths) == {"top losses", "confusion matrix", "word importance"}
    assert interpret.confusion_matrix([0, 0, 1], [1, 0, 1], 2).tolist() == [[1, 1], [0, 1]]
