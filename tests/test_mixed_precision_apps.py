"""Every app trains under `mixed_bfloat16` and its SavedModel serves float32 outputs.

Each app's tiny task is built, trained a few steps and exported with the
global policy `mixed_bfloat16` (the export's own check compares the served
outputs with the in-memory model); then each signature of the SavedModel
is called: every float output is float32, probabilities sum to 1, ratings
lie in `y_range`. The text case pretrains a language model, then trains a
classifier on its encoder by gradual unfreezing (freezing under the mixed
policy). Before the fix the tabular, text and recommender SavedModels
served bfloat16, and the recommender and the language model could not
train (their L2 and AR/TAR penalties were bfloat16 losses).
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


def tabular():
    from apps.tabular.task import TabularTask

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"shop": rng.choice(list("abcd"), 128), "x": rng.normal(size=128)})
    frame["y"] = ((frame["shop"] < "c") ^ (frame["x"] > 0)).astype(int)
    task = TabularTask.from_frame(frame, "y", cat_names=["shop"], cont_names=["x"], layers=[16],
                                  batch_size=32)
    history = task.fit_one_cycle(frame, epochs=1, lr_max=1e-2, verbose=0)
    return task, history.history["loss"]


def recommender():
    from test_recommender_task import _low_rank_ratings

    from apps.recommender.task import RecommenderTask

    train, _ = _low_rank_ratings()
    task = RecommenderTask.from_ratings(train, n_factors=4, steps_per_execution=4,
                                        jit_compile=False)
    history = task.fit_one_cycle(train, epochs=1, lr_max=1e-2, batch_size=64, verbose=0)
    return task, history.history["loss"]


def image():
    from apps.image.data import from_arrays
    from apps.image.task import ImageTask

    from test_image_support import tiny_backbone

    pixels = np.random.default_rng(0).integers(0, 256, (8, 16, 16, 3)).astype(np.uint8)
    source = from_arrays(pixels, [0, 1] * 4, class_names=["a", "b"])
    task = ImageTask.from_source(source, tiny_backbone(), size=16, hidden_units=8)
    histories = task.fine_tune(source, epochs=1, freeze_epochs=1, batch_size=4, verbose=0)
    return task, [loss for h in histories for loss in h.history["loss"]]


def text_ulmfit():
    """A language model, then a classifier on its encoder by gradual unfreezing."""
    from apps.text.classifier_task import TextClassifierTask
    from apps.text.lm_task import LanguageModelTask

    vocabulary = ["[PAD]", "[UNK]", "[BOS]", "good", "bad", "film", "plot"]
    texts = ["good film", "good plot", "bad film", "bad plot"] * 2
    lm = LanguageModelTask.create(vocabulary, embedding_dim=6, hidden_units=8, layers=2,
                                  batch_size=2, bptt=4)
    (lm_history,) = lm.train(texts, epochs=1, lr_max=1e-2, verbose=0)
    task = TextClassifierTask.create(classes=["neg", "pos"], encoder=lm.encoder(), batch_size=4,
                                     max_tokens=16)
    histories = task.train((texts, ["pos", "pos", "neg", "neg"] * 2), epochs=4, lr_max=1e-2,
                           verbose=0)
    return task, lm_history.history["loss"] + [h.history["loss"][-1] for h in histories]


def bfloat16_layers(model):
    found = []
    for layer in model.layers:
        found += bfloat16_layers(layer) if isinstance(layer, keras.Model) else []
        if layer.compute_dtype == "bfloat16" and layer.weights:
            found.append(layer.name)
    return found


@pytest.mark.parametrize("app", [tabular, recommender, image, text_ulmfit],
                         ids=lambda f: f.__name__)
def test_trains_and_serves_float32_under_mixed_bfloat16(app, tmp_path):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras.utils.set_random_seed(0)
        task, losses = app()
        assert bfloat16_layers(task.network), "nothing computed in bfloat16"
        assert np.isfinite(losses).all()
        path = task.export("mixed", root=tmp_path)  # checks served == in-memory outputs
    finally:
        keras.mixed_precision.set_global_policy("float32")
    loaded = tf.saved_model.load(str(path))
    for name, examples in task.serving_examples().items():
        outputs = loaded.signatures[name](**examples)
        floats = {k: v for k, v in outputs.items() if v.dtype.is_floating}
        assert floats and all(v.dtype == tf.float32 for v in floats.values()), (name, outputs)
        for key, values in floats.items():
            values = values.numpy()
            assert np.isfinite(values).all(), key
            if key in ("probabilities", "outputs") and values.ndim == 2:
                np.testing.assert_allclose(values.sum(axis=1), 1, atol=1e-5, err_msg=key)
            if key in ("ratings", "scores"):
                low, high = task.metadata["y_range"]
                assert ((values >= low) & (values <= high)).all(), key
