"""dlkeras.layers: ScaledSigmoid and the embedding-size rule, shared by the apps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dlkeras.layers import ScaledSigmoid, emb_sz_rule, embedding_sizes


def test_scaled_sigmoid_range_and_round_trip(tmp_path):
    out = ScaledSigmoid(-1.0, 3.0)(tf.constant([[-50.0, 0.0, 50.0]])).numpy()
    np.testing.assert_allclose(out, [[-1.0, 1.0, 3.0]], atol=1e-5)
    with pytest.raises(ValueError, match="low < high"):
        ScaledSigmoid(2.0, 1.0)
    model = keras.Sequential([keras.Input((2,)), ScaledSigmoid(0.0, 5.5)])
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    x = np.array([[0.3, -2.0]], "float32")
    np.testing.assert_allclose(again(x), 5.5 / (1 + np.exp(-x)), rtol=1e-6)


def test_embedding_size_rule_and_overrides():
    assert [emb_sz_rule(n) for n in (2, 4, 10, 100, 10**6)] == [2, 3, 6, 21, 600]
    assert embedding_sizes(["a", "b"], [10, 10], {"b": 3}) == [6, 3]
    with pytest.raises(KeyError, match="'c'"):
        embedding_sizes(["a"], [10], {"c": 2})
    with pytest.raises(ValueError, match="n_categories"):
        emb_sz_rule(0)
