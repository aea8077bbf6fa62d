"""Recommender models: hand-computed predictions, OOV fallback, penalty, serialization."""
import keras
import numpy as np
import pandas as pd
import pytest

from apps.recommender.layers import CountedDropout, FactorEmbedding, GlobalBias, ItemSideFeatures
from apps.recommender.models import build_recommender, default_y_range
from apps.recommender.side_features import item_side_tables


def scorer_of(model):
    return model.get_layer("scorer")


USERS, ITEMS = np.array([3, 5]), np.array([10, 20, 30])


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _weights(model, name):
    return np.asarray(scorer_of(model).get_layer(name).embeddings)


def _randomised(model, seed=0):
    rng = np.random.default_rng(seed)
    for weight in scorer_of(model).trainable_weights:
        weight.assign(rng.normal(size=weight.shape).astype("float32") * 0.5)
    return model


def test_default_y_range_matches_fastai():
    assert default_y_range([0.5, 5.0]) == (0.0, 5.5)
    assert default_y_range([1, 5]) == (0.0, 5.5)


def test_dot_prediction_equals_hand_computation_and_oov_falls_back():
    model = _randomised(build_recommender(USERS, ITEMS, n_factors=4, y_range=(0.0, 5.5)))
    users, items = np.array([5, 3, 99, 99]), np.array([10, 30, 20, 77])
    predicted = model({"user_id": users, "item_id": items}).numpy()
    uf, itf = _weights(model, "user_factors"), _weights(model, "item_factors")
    ub, ib = _weights(model, "user_bias")[:, 0], _weights(model, "item_bias")[:, 0]
    g = float(scorer_of(model).get_layer("global_bias").bias.numpy())
    u, i = np.array([2, 1]), np.array([1, 3])  # lookup indices (0 = unseen)
    known = (uf[u] * itf[i]).sum(1) + ub[u] + ib[i] + g
    np.testing.assert_allclose(predicted[:2], 5.5 * _sigmoid(known), rtol=1e-5)
    # Unseen user, known item 20 (index 2): global bias + item bias only.
    assert predicted[2] == pytest.approx(5.5 * _sigmoid(g + ib[2]), rel=1e-5)
    # Unseen user and item: the global bias alone.
    assert predicted[3] == pytest.approx(5.5 * _sigmoid(g), rel=1e-5)


def test_neural_model_gates_the_mlp_for_unseen_ids_and_takes_strings():
    model = _randomised(build_recommender(np.array(["ann", "bob"]), ITEMS, kind="neural",
                                          n_factors=None, y_range=(0.0, 5.0)))
    out = model({"user_id": np.array(["zed", "ann"]), "item_id": np.array([20, 20])}).numpy()
    ib = _weights(model, "item_bias")[:, 0]
    g = float(scorer_of(model).get_layer("global_bias").bias.numpy())
    assert out[0] == pytest.approx(5.0 * _sigmoid(g + ib[2]), rel=1e-5)
    assert abs(out[1] - out[0]) > 1e-4  # the known pair goes through the MLP
    with pytest.raises(ValueError, match="kind='wide'"):
        build_recommender(USERS, ITEMS, kind="wide")
    with pytest.raises(ValueError, match=r"y_range=\(5, 1\)"):
        build_recommender(USERS, ITEMS, y_range=(5, 1))


def test_l2_penalty_is_on_looked_up_rows_only():
    layer = FactorEmbedding(4, 2, l2=0.1)
    layer.build((None,))
    layer.embeddings.assign(np.array([[9, 9], [1, 2], [3, 4], [100, 100]], "float32"))
    rows = layer(np.array([0, 1, 2, 2])).numpy()
    np.testing.assert_array_equal(rows[0], [0, 0])  # OOV row reads as zeros
    expected = 0.1 * np.mean([0, 1 + 4, 9 + 16, 9 + 16])
    assert float(layer.losses[0]) == pytest.approx(expected)
    with pytest.raises(ValueError, match="l2=-1"):
        FactorEmbedding(3, 2, l2=-1)


def test_model_with_side_features_round_trips_through_keras_file(tmp_path):
    frame = pd.DataFrame({"item": [10, 20, 30], "genres": ["A|B", "B", "(no genres listed)"],
                          "year": [1990.0, 2001.0, np.nan]})
    tables = item_side_tables(frame, ITEMS, years_per_bucket=5)
    np.testing.assert_array_equal(tables.genre_multi_hot, [[0, 0], [1, 1], [0, 1], [0, 0]])
    np.testing.assert_array_equal(tables.year_bucket, [0, 1, 3, 0])
    model = _randomised(build_recommender(USERS, ITEMS, n_factors=3, side_features=tables))
    side = scorer_of(model).get_layer("item_side_features")
    # Item 10 = genres A and B (mean of their rows) + year bucket 1.
    expected = np.asarray(side.genre_embedding).mean(0) + np.asarray(side.year_embedding.embeddings)[1]
    np.testing.assert_allclose(side(np.array([1])).numpy()[0], expected, rtol=1e-5)
    ids = {"user_id": np.array([3, 5, 8]), "item_id": np.array([10, 30, 20])}
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    np.testing.assert_allclose(reloaded(ids).numpy(), model(ids).numpy(), rtol=1e-6)


def _initial_tables(seed, side_features):
    keras.utils.set_random_seed(seed)
    scorer = scorer_of(build_recommender(USERS, np.arange(10, 13), kind="neural", n_factors=3,
                                         side_features=side_features))
    side = [] if side_features is None else [scorer.get_layer("item_side_features")]
    tables = {name: _weights_of(scorer, name) for name in ("user_factors", "item_factors")}
    for layer in side:
        tables["genre_embedding"] = np.asarray(layer.genre_embedding)
        tables["year_embedding"] = np.asarray(layer.year_embedding.embeddings)
    return tables


def _weights_of(scorer, name):
    return np.asarray(scorer.get_layer(name).embeddings)


def test_each_factor_table_starts_from_its_own_draw_of_the_seed():
    # One shared initializer used to start the user and item tables (and the genre and year
    # tables) with the same rows, and, created at import, ignored keras.utils.set_random_seed.
    frame = pd.DataFrame({"item": [10, 11, 12], "genres": ["A|B", "B", "A"],
                          "year": [1990.0, 2001.0, 1995.0]})
    tables = item_side_tables(frame, np.arange(10, 13), years_per_bucket=5)
    first, again, other = (_initial_tables(seed, tables) for seed in (0, 0, 1))
    values = {name: table[1:].ravel() for name, table in first.items()}  # row 0: OOV, zero
    names = sorted(values)
    for i, a in enumerate(names):
        assert 0.002 < values[a].std() < 0.03, a  # N(0, 0.01), a few draws
        for b in names[i + 1:]:
            n = min(len(values[a]), len(values[b]))
            assert not np.allclose(values[a][:n], values[b][:n]), (a, b)
    for name in names:
        np.testing.assert_array_equal(first[name], again[name])
        assert not np.allclose(first[name][1:], other[name][1:]), name
    plain = _initial_tables(0, None)
    assert not np.allclose(plain["user_factors"][1:3], plain["item_factors"][1:3])


@pytest.mark.parametrize("layer", [FactorEmbedding(5, 3, l2=0.2), GlobalBias(1.5),
                                   ItemSideFeatures(4, 2, 3, 5, l2=0.1), CountedDropout(0.3, seed=2)])
def test_layer_configs_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    registered = keras.saving.get_registered_name(type(layer))
    assert registered == f"apps.recommender>{type(layer).__name__}"


def test_counted_dropout_draws_a_new_mask_per_call_and_repeats_per_seed():
    x = np.ones((4, 50), "float32")
    first, second = CountedDropout(0.25, seed=7), CountedDropout(0.25, seed=7)
    a, b = first(x, training=True).numpy(), first(x, training=True).numpy()
    np.testing.assert_allclose(np.unique(a), [0.0, 1 / 0.75], rtol=1e-6)
    assert not np.array_equal(a, b)  # the counter moved: another mask
    np.testing.assert_array_equal(second(x, training=True).numpy(), a)  # same seed, same masks
    assert int(first.calls.numpy()) == 2
    np.testing.assert_array_equal(first(x).numpy(), x)  # inference leaves inputs alone
    with pytest.raises(ValueError, match="rate=1.0"):
        CountedDropout(1.0)


def test_neural_dropout_default_and_checks(tmp_path):
    model = build_recommender(USERS, ITEMS, kind="neural", n_factors=None)
    names = [layer.name for layer in scorer_of(model).layers]
    assert "mlp_dropout_0" in names and "mlp_dropout_1" in names
    plain = build_recommender(USERS, ITEMS, kind="neural", n_factors=None, dropout=0.0)
    assert not any(isinstance(layer, CountedDropout) for layer in scorer_of(plain).layers)
    with pytest.raises(ValueError, match="dot model has no MLP"):
        build_recommender(USERS, ITEMS, kind="dot", dropout=0.1)
    with pytest.raises(ValueError, match="dropout=-0.1"):
        build_recommender(USERS, ITEMS, kind="neural", dropout=-0.1)
    ids = {"user_id": np.array([3, 5]), "item_id": np.array([10, 30])}
    model.save(tmp_path / "neural.keras")
    reloaded = keras.saving.load_model(tmp_path / "neural.keras", compile=False)
    np.testing.assert_allclose(reloaded(ids).numpy(), model(ids).numpy(), rtol=1e-6)
