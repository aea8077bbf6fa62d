"""Text app: the SavedModel serves raw strings without dlkeras, bad input included."""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from apps.text.classifier_task import TextClassifierTask  # noqa: E402

from fresh_process import run_without_dlkeras  # noqa: E402

VOCABULARY = ["[PAD]", "[UNK]", "[BOS]", "good", "bad", "film", "plot", "great", "dull", "a",
              "!", "##s"]
INPUTS = {
    "normal": ["A good film!", "a dull plot"],
    "empty": [""],
    "whitespace": ["   \t\n  "],
    "long": ["good film " * 12_500],  # 100,000 characters
    "invalid_utf8": [b"bad \xff\xfe\xc3 film"],
    "mixed": ["great films", "", "  ", b"\x80\x81", "dull " * 20_000, "A good film!"],
    "empty_batch": [],
}

SERVE = r"""
import json, sys
import numpy as np, tensorflow as tf
import tensorflow_text  # registers the tokenizer ops; nothing else from it is used
path, cases_file = sys.argv[1], sys.argv[2]
cases = json.load(open(cases_file))
loaded = tf.saved_model.load(path)
serve = loaded.signatures["serving_default"]
results = {}
for name, texts in cases.items():
    batch = tf.constant([t.encode("latin-1") for t in texts], tf.string, shape=[len(texts)])
    out = serve(texts=batch)
    results[name] = {"probabilities": out["probabilities"].numpy().tolist(),
                     "label": [s.decode() for s in out["label"].numpy()],
                     "classes": [[c.decode() for c in row] for row in out["classes"].numpy()]}
try:
    serve(texts=tf.constant([1, 2]))
    results["wrong_dtype"] = "accepted"
except (TypeError, ValueError, tf.errors.InvalidArgumentError) as error:
    results["wrong_dtype"] = str(error)
print(json.dumps(results))
"""


def encoded(texts):
    """Bytes as latin-1 strings for JSON (the child encodes them back to the same bytes)."""
    return [(t if isinstance(t, bytes) else t.encode("utf-8")).decode("latin-1") for t in texts]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    task = TextClassifierTask.create(VOCABULARY, ["neg", "pos"], embedding_dim=6, hidden_units=8,
                                     layers=2, batch_size=4, max_tokens=64)
    data = (["good film", "great plot", "bad film", "dull plot"] * 4, ["pos"] * 8 + ["neg"] * 8)
    task.train(data, epochs=1, lr_max=1e-2, verbose=0)
    root = tmp_path_factory.mktemp("saved_models")
    return task, task.export("reviews", root=root), root


def test_export_layout_and_refusal_to_overwrite(exported):
    task, path, root = exported
    assert path == root / "reviews" / "1"
    assert json.loads((path / "assets.extra" / "task.json").read_text())["classes"] == ["neg", "pos"]
    with pytest.raises(FileExistsError, match="already holds files"):
        task.export("reviews", root=root, version=1)


def test_served_outputs_equal_the_in_process_model_for_every_input(exported, tmp_path):
    task, path, _ = exported
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps({name: encoded(texts) for name, texts in INPUTS.items()}))
    done = run_without_dlkeras(SERVE.replace("sys.argv[1], sys.argv[2]",
                                             f"{str(path)!r}, {str(cases)!r}"))
    assert done.returncode == 0, done.stderr[-3000:]
    served = json.loads(done.stdout.strip().splitlines()[-1])
    endpoint = task.serving_endpoints()["serve"]
    for name, texts in INPUTS.items():
        expected = endpoint(tf.constant(texts, tf.string, shape=[len(texts)]))
        got = served[name]
        np.testing.assert_allclose(np.reshape(got["probabilities"], (-1, 2)),
                                   expected["probabilities"].numpy(), atol=1e-5, err_msg=name)
        assert got["label"] == [s.decode() for s in expected["label"].numpy()], name
        assert all(row == ["neg", "pos"] for row in got["classes"])
        probabilities = np.reshape(got["probabilities"], (-1, 2))
        assert np.isfinite(probabilities).all() and np.allclose(probabilities.sum(axis=1), 1)
    # In-process Python predictions agree with the served graph, including bad bytes.
    np.testing.assert_allclose(task.predict(INPUTS["mixed"]),
                               np.asarray(served["mixed"]["probabilities"]), atol=1e-5)
    assert "expected to be a string tensor but is a int32 tensor" in served["wrong_dtype"]


def test_multi_label_endpoint_marks_each_class_at_one_half():
    task = TextClassifierTask.create(VOCABULARY, ["action", "comedy", "drama"], multi_label=True,
                                     embedding_dim=4, hidden_units=4, layers=1, batch_size=2)
    texts = ["good film", "", b"\xff dull plot"]
    out = task.serving_endpoints()["serve"](tf.constant(texts))
    probabilities = out["probabilities"].numpy()
    np.testing.assert_allclose(probabilities, task.predict(texts), atol=1e-6)
    np.testing.assert_array_equal(out["predicted"].numpy(), probabilities >= 0.5)
    assert "label" not in out and out["classes"].shape == (3, 3)
