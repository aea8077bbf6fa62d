"""Tabular app, no training: column roles, frame conversion, layers, model shape."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from apps.tabular.frames import (  # noqa: E402
    category_strings,
    continuous_values,
    encode_target,
    raw_inputs,
    read_csv,
)
from apps.tabular.layers import Categorify, PackedEmbeddings  # noqa: E402
from apps.tabular.network import build_network  # noqa: E402
from apps.tabular.preprocessor import (  # noqa: E402
    build_preprocessor,
    cardinalities,
    continuous_width,
    fit_preprocessing,
)
from apps.tabular.roles import ColumnRoles, infer_roles  # noqa: E402
from dlkeras.layers import emb_sz_rule  # noqa: E402


def preprocessor_for(df, roles):
    return build_preprocessor(roles, fit_preprocessing(df, roles))


def mixed_frame():
    return pd.DataFrame({
        "color": ["red", "blue", None, "red", "green"],
        "year": [1990, 1991, 1990, 1992, 1991],          # few ints -> categorical
        "visits": np.arange(5) * 100,                     # many ints if limit is low
        "flag": [True, False, True, True, False],
        "size": [1.0, np.nan, 3.0, 4.0, 10.0],
        "label": ["no", "yes", "yes", "no", "no"],
    })


def test_roles_inferred_from_dtypes_with_integer_cardinality_limit():
    roles = infer_roles(mixed_frame(), "label", max_int_cardinality=3)
    assert roles.cat_names == ["color", "year", "flag"]
    assert roles.cont_names == ["visits", "size"]
    assert (roles.task, roles.classes) == ("binary", ["no", "yes"])


def test_roles_overrides_and_tasks():
    df = mixed_frame()
    roles = infer_roles(df, "size", cat_names=["color"], cont_names=["visits"])
    assert (roles.cat_names, roles.cont_names, roles.task) == (["color"], ["visits"], "regression")
    df["three"] = ["a", "b", "c", "a", "b"]
    assert infer_roles(df, "three").task == "multiclass"
    assert infer_roles(df, ["size", "visits"], cat_names=["color"], cont_names=[]).task == "regression"


@pytest.mark.parametrize("kwargs, error, fragment", [
    (dict(y_name="nope"), KeyError, "'nope'"),
    (dict(y_name="label", cat_names=["colour"]), KeyError, "'colour'"),
    (dict(y_name="label", cat_names=["color"], cont_names=["color"]), ValueError, "'color'"),
    (dict(y_name="label", cont_names=["color"]), TypeError, "'color'"),
    (dict(y_name="label", task="ranking"), ValueError, "'ranking'"),
])
def test_roles_errors_name_the_problem(kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        infer_roles(mixed_frame(), **kwargs)


def test_column_names_must_be_serving_names():
    df = mixed_frame().rename(columns={"size": "size-cm"})
    with pytest.raises(ValueError, match="'size-cm'"):
        infer_roles(df, "label")


def test_category_strings_and_continuous_values():
    assert category_strings(pd.Series([1974.0, np.nan, 3.0])).tolist() == ["1974", "", "3"]
    assert category_strings(pd.Series([1.5, None])).tolist() == ["1.5", ""]
    assert category_strings(pd.Series(["a", None, "b"])).tolist() == ["a", "", "b"]
    np.testing.assert_array_equal(continuous_values(pd.Series([1, None], dtype="Int64")),
                                  np.array([1.0, np.nan], np.float32))
    with pytest.raises(TypeError, match="'words'"):
        continuous_values(pd.Series(["x"], name="words"))


def test_raw_inputs_and_target_encoding():
    df = mixed_frame()
    roles = infer_roles(df, "label")
    raw = raw_inputs(df, roles)
    assert raw["color"].tolist() == ["red", "blue", "", "red", "green"]
    assert raw["year"].tolist() == ["1990", "1991", "1990", "1992", "1991"]
    assert encode_target(df, roles).tolist() == [0, 1, 1, 0, 0]
    with pytest.raises(KeyError, match="'color'"):
        raw_inputs(df.drop(columns=["color"]), roles)
    bad = df.assign(label=["no", "maybe", "yes", "no", "no"])
    with pytest.raises(ValueError, match="'label'.*maybe"):
        encode_target(bad, roles)


def test_integer_columns_with_more_than_20_values_are_continuous():
    df = pd.DataFrame({"age": np.arange(200) % 50, "kids": np.arange(200) % 5,
                       "y": np.arange(200) % 2})
    roles = infer_roles(df, "y")
    assert roles.cat_names == ["kids"] and roles.cont_names == ["age"]


def test_a_stray_text_value_in_a_numeric_column_is_refused():
    ages = [str(a) for a in range(40)] + ["thirty"]
    df = pd.DataFrame({"age": ages, "y": [0, 1] * 20 + [0]})
    with pytest.raises(ValueError, match="'age'.*'thirty'"):
        infer_roles(df, "y")
    assert infer_roles(df, "y", cat_names=["age"]).cat_names == ["age"]  # explicit role is fine


def test_predict_csv_keeps_training_text_columns_as_text(tmp_path):
    train = pd.DataFrame({"code": ["007", "A1", "012"], "y": [0, 1, 0]})
    roles = infer_roles(train, "y")
    assert roles.text_columns == ["code"]
    later = tmp_path / "later.csv"
    later.write_text("code\n007\n012\n")
    assert read_csv(later, roles.text_columns)["code"].tolist() == ["007", "012"]
    assert pd.read_csv(later)["code"].tolist() == [7, 12]  # what pandas alone would do


def test_categorify_unknown_and_missing_have_their_own_index():
    layer = Categorify(["blue", "red"])
    out = layer(tf.constant(["red", "blue", "", "purple"])).numpy().tolist()
    assert out == [3, 2, 1, 0] and layer.cardinality == 4


def test_fill_missing_uses_training_median_and_adds_indicator():
    df = pd.DataFrame({"x": [1.0, np.nan, 3.0, 4.0], "z": [0.0, 1.0, 2.0, 3.0], "y": [0, 1, 0, 1]})
    roles = ColumnRoles([], ["x", "z"], ["y"], "binary", ["0", "1"])
    pre = preprocessor_for(df, roles)
    assert pre.get_layer("fill_missing").fill_values == [3.0, 1.5]
    assert pre.get_layer("fill_missing").indicator_columns == [0]
    out = pre({"x": np.array([np.nan, 4.0], "float32"), "z": np.array([1.5, 3.0], "float32")})
    filled = np.array([1.0, 3.0, 3.0, 4.0])  # by hand: median of 1, 3, 4 is 3
    expected_x = (np.array([3.0, 4.0]) - filled.mean()) / np.sqrt(filled.var())
    expected_z = (np.array([1.5, 3.0]) - 1.5) / np.sqrt(np.var([0.0, 1, 2, 3]))
    np.testing.assert_allclose(out["continuous"].numpy(),
                               np.stack([expected_x, expected_z, [1.0, 0.0]], axis=1), atol=1e-4)


def test_packed_embeddings_are_one_table_per_column():
    layer = PackedEmbeddings([3, 4], [2, 5])
    out = layer(tf.constant([[0, 3], [2, 1]])).numpy()
    first, second = layer.column_table(0), layer.column_table(1)
    assert first.shape == (3, 2) and second.shape == (4, 5)
    np.testing.assert_array_equal(out[0], np.concatenate([first[0], second[3]]))
    np.testing.assert_array_equal(out[1], np.concatenate([first[2], second[1]]))
    assert len(layer.trainable_weights) == 1


@pytest.mark.parametrize("task, n_outputs, y_range, shape", [
    ("binary", 1, None, (None, 1)), ("multiclass", 4, None, (None, 4)),
    ("regression", 2, (0.0, 5.0), (None, 2))])
def test_network_heads(task, n_outputs, y_range, shape):
    net = build_network(["c", "d"], [5, 7], 3, task=task, n_outputs=n_outputs, layers=[8, 4],
                        ps=0.1, embed_p=0.1, y_range=y_range)
    assert net.output_shape == shape
    assert net.get_layer("embeddings").sizes == [emb_sz_rule(5), emb_sz_rule(7)]
    out = net({"categorical": np.array([[1, 2]], "int32"), "continuous": np.zeros((1, 3), "float32")})
    if y_range:
        assert 0.0 <= float(np.min(out)) and float(np.max(out)) <= 5.0
    if task == "multiclass":
        np.testing.assert_allclose(np.sum(out), 1.0, atol=1e-5)


def test_full_model_save_and_reload_round_trip(tmp_path):
    df = mixed_frame()
    roles = infer_roles(df, "label")
    state = fit_preprocessing(df, roles)
    pre = build_preprocessor(roles, state)
    net = build_network(roles.cat_names, cardinalities(roles, state), continuous_width(state),
                        task="regression",
                        layers=[4], y_range=(0.0, 2.0))
    inputs = {k: keras.Input(shape=(), dtype=v.dtype, name=k) for k, v in pre.input.items()}
    model = keras.Model(inputs, net(pre(inputs)))
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras")
    raw = raw_inputs(df, roles)
    np.testing.assert_allclose(model(raw).numpy(), again(raw).numpy(), atol=1e-6)
