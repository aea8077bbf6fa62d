"""benchmarks/text_encoder_parts.py: the mixed encoder starts are what they say."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from apps.text.encoder_files import PretrainedEncoder  # noqa: E402
from apps.text.network import build_classifier, encoder_config, encoder_weights  # noqa: E402
from benchmarks.text_encoder_parts import VARIANTS, starting_weights  # noqa: E402


@pytest.fixture(scope="module")
def general():
    config = encoder_config(40, 6, 8, 2)
    rng = np.random.RandomState(0)
    # "Pretrained" weights far from any initialiser: every value in [3, 4).
    weights = {k: 3 + rng.uniform(size=v.shape).astype("float32")
               for k, v in encoder_weights(build_classifier(config, 2)).items()}
    return PretrainedEncoder([f"t{i}" for i in range(40)], config, weights)


def _pretrained(value):
    return bool(np.all(value >= 3))


def test_each_start_takes_the_named_parts_from_the_general_encoder(general):
    expected = {"general": ("embedding/", "rnn_"), "random_embedding": ("rnn_",),
                "random_lstm": ("embedding/",), "random": ()}
    for variant, kept in expected.items():
        weights = starting_weights(variant, general)
        assert set(weights) == set(general.weights)
        for key, value in weights.items():
            assert value.shape == general.weights[key].shape
            assert _pretrained(value) == key.startswith(kept), (variant, key)


def test_scaled_embedding_has_the_random_mean_row_norm(general):
    weights = starting_weights("scaled_embedding", general)
    table, original = weights["embedding/embeddings"], general.weights["embedding/embeddings"]
    fresh = starting_weights("random", general)["embedding/embeddings"]
    ratio = table / original
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)  # one factor for every row
    # Keras' uniform initialiser: the mean norm is stable across draws at this size.
    np.testing.assert_allclose(np.linalg.norm(table, axis=1).mean(),
                               np.linalg.norm(fresh, axis=1).mean(), rtol=0.2)
    assert all(np.array_equal(weights[k], general.weights[k]) for k in weights if k.startswith("rnn_"))


def test_unknown_start_is_refused(general):
    assert "general" in VARIANTS
    with pytest.raises(ValueError, match="Unknown variant 'pretrained'"):
        starting_weights("pretrained", general)


def test_extend_pretraining_trains_one_more_epoch_and_saves_it(tmp_path, monkeypatch):
    from apps.text import pretrain
    from apps.text.encoder_files import load_encoder
    from benchmarks.text_encoder_parts import extend_pretraining

    rng = np.random.RandomState(0)
    words = "the news market film friends said good bad stock price show".split()
    corpus = [" ".join(rng.choice(words, rng.randint(3, 40))) for _ in range(200)]
    monkeypatch.setattr(pretrain, "general_corpus", lambda sources=None: corpus)
    tiny = {"vocabulary_size": 60, "min_frequency": 1, "max_tokens": 2000,
            "max_document_tokens": 30, "batch_size": 4, "bptt": 8, "embedding_dim": 4,
            "hidden_units": 6, "layers": 2}
    for key, value in tiny.items():
        monkeypatch.setitem(pretrain.PRETRAIN_DEFAULTS, key, value)
    pretrain.pretrain_general_lm(tmp_path / "first", verbose=0)
    notes = extend_pretraining(str(tmp_path / "first"), str(tmp_path / "second"), 1e-2)
    first, second = load_encoder(tmp_path / "first"), load_encoder(tmp_path / "second")
    assert second.config == first.config and second.vocabulary == first.vocabulary
    assert all(not np.array_equal(second.weights[k], first.weights[k]) for k in first.weights)
    assert notes["extend_train_tokens"] > 0
    assert notes["held_out_perplexity_after"] < notes["held_out_perplexity_before"]
    assert second.notes["extend_lr_max"] == 1e-2 and "valid_perplexity" in second.notes
