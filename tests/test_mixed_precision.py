"""The core optimizers and the LR finder under `mixed_float16` (loss scaling) and `mixed_bfloat16`.

`test_optimizer_options.py` checks the scheduled optimizers' weights under
mixed_float16 against plain Keras; here: a discriminative, scheduled-momentum
one-cycle under both mixed policies lands near the float32 run (and
nowhere near the starting weights), and an LR sweep under both puts back
weights, every optimizer variable (the loss scale and its counter
included) and the schedules exactly. The apps' mixed_bfloat16 runs are in
`test_mixed_precision_apps.py`.
"""
import keras
import numpy as np
import pytest

from dlkeras import ScheduledAdamW, discriminative_optimizer, fit_one_cycle, lr_find
from dlkeras.keras_internals import learning_rate_object
from dlkeras.optimizers import sub_optimizers

from core_fixtures import regression_data, three_layer_model, weights_of

INITIAL_SCALE = 2.0 ** 8


def compiled(policy):
    """The three-layer model under `policy`, one discriminative ScheduledAdamW per group."""
    keras.config.set_dtype_policy(policy)
    try:
        model, groups = three_layer_model(batch_norm=True)
    finally:
        keras.config.set_dtype_policy("float32")
    optimizer = discriminative_optimizer(groups, ScheduledAdamW(weight_decay=0.01),
                                         [1e-4, 1e-3, 1e-2])
    if policy == "mixed_float16":  # what compile adds, with a scale no step here overflows
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=INITIAL_SCALE)
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_discriminative_one_cycle_with_scheduled_momentum(policy):
    x, y = regression_data(n=64)
    reference = compiled("float32")
    start = weights_of(reference)
    fit_one_cycle(reference, x, y, epochs=2, lr_max=[1e-3, 3e-3, 1e-2], batch_size=16, verbose=0)
    model = compiled(policy)
    assert model.get_layer("early").compute_dtype == policy.split("_")[1]
    loss_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert loss_scaled == (policy == "mixed_float16")
    history = fit_one_cycle(model, x, y, epochs=2, lr_max=[1e-3, 3e-3, 1e-2], batch_size=16,
                            verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    if loss_scaled:  # no step overflowed: none was skipped, the scale never halved
        assert float(model.optimizer.dynamic_scale) == INITIAL_SCALE
    for sub in sub_optimizers(model.optimizer):  # the schedules reached the inner optimizers
        assert int(sub.iterations) == 8 and sub.momentum_schedule is not None
    moved, off = weights_of(model), weights_of(reference)
    for path in ("early/kernel", "middle/kernel", "head/kernel"):
        ours, reference_step = (moved[path] - start[path]).ravel(), (off[path] - start[path]).ravel()
        assert np.abs(reference_step).max() > 1e-3, path
        # Low-precision products: the same updates, up to noise (Adam's early steps
        # follow the gradients' signs, which bfloat16 flips for the smallest ones).
        cosine = ours @ reference_step / np.linalg.norm(ours) / np.linalg.norm(reference_step)
        assert cosine > 0.9, (path, cosine)
        assert 0.7 < np.linalg.norm(ours) / np.linalg.norm(reference_step) < 1.3, path


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_lr_sweep_puts_everything_back(policy):
    x, y = regression_data(n=64)
    model = compiled(policy)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # non-zero state
    weights = weights_of(model)
    variables = [v.numpy().copy() for v in model.optimizer.variables]
    if policy == "mixed_float16":
        names = {v.name for v in model.optimizer.variables}
        assert {"dynamic_scale", "step_counter"} <= names  # the loss scale is in the check
    rates = [learning_rate_object(sub) for sub in sub_optimizers(model.optimizer)]
    finder = lr_find(model, x, y, batch_size=16, total_steps=40, end_lr=1e3, verbose=0)
    assert len(finder.lrs) >= 10 and np.isfinite(finder.raw_losses[:10]).all()
    assert finder.suggestion is not None or finder.no_suggestion_reason
    for path, value in weights.items():
        np.testing.assert_array_equal(weights_of(model)[path], value, err_msg=path)
    for variable, value in zip(model.optimizer.variables, variables):
        np.testing.assert_array_equal(variable.numpy(), value, err_msg=variable.name)
    assert all(learning_rate_object(s) is r for s, r in zip(sub_optimizers(model.optimizer), rates))
