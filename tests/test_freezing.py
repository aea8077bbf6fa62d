"""Freezing with optimizers whose state Keras pairs by position, and under mixed precision."""
import keras
import numpy as np
import pytest

import dlkeras

from core_fixtures import regression_data, three_layer_model


def test_a_plain_keras_optimizer_with_ema_is_refused_before_it_mixes_up_averages():
    model, groups = three_layer_model()
    model.compile(optimizer=keras.optimizers.Adam(use_ema=True), loss="mse")
    with pytest.raises(ValueError, match="use_ema=True.*by position"):
        dlkeras.freeze(model, groups)
    model.compile(optimizer=dlkeras.ScheduledAdam(use_ema=True), loss="mse")
    dlkeras.freeze(model, groups)  # ours pair averages by variable
    assert [v.path for v in model.trainable_variables] == ["head/kernel", "head/bias"]


def test_reload_while_frozen_under_mixed_float16_then_unfreeze(tmp_path):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model, groups = three_layer_model()
        model.compile(optimizer=dlkeras.ScheduledAdamW(1e-3), loss="mse")
        dlkeras.freeze(model, groups)
        x, y = regression_data()
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)
        model.save(tmp_path / "m.keras")
        again = keras.saving.load_model(tmp_path / "m.keras")
        groups = dlkeras.LayerGroups.split(again, ["middle", "head"])
        dlkeras.unfreeze(again, groups)
        before = again.get_layer("early").kernel.numpy().copy()
        again.fit(x, y, epochs=1, batch_size=16, verbose=0)
        assert not np.array_equal(before, again.get_layer("early").kernel.numpy())
    finally:
        keras.mixed_precision.set_global_policy("float32")
