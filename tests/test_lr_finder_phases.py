"""`Task.lr_find` on the fine_tune recipe sweeps the phase that trains at the rate, with its ratios."""

import keras
import numpy as np
import pytest

from dlkeras import (
    HyperparameterLogger,
    LRFinder,
    ScheduledAdamW,
    discriminative_optimizer,
    freeze,
    lr_find,
)
from dlkeras.data import index_batched_dataset, training_batches
from dlkeras.recipes import fine_tune_group_ratios
from dlkeras.tasks import Task

from core_fixtures import np_one_cycle, regression_data, three_layer_model, weights_of

START, END, STEPS = 1e-5, 1.0, 12


class FineTuned(Task):
    recipe = "fine_tune"

    def make_dataset(self, data, *, training, batch_size, seed=None):
        x, y = data
        if training:
            return training_batches(x, y, batch_size, seed=seed)
        return index_batched_dataset(x, y, batch_size)

    def loss_and_metrics(self):
        return "mse", []


class Trainable(keras.callbacks.Callback):
    """The paths of the variables that train, at each step."""

    def __init__(self):
        super().__init__()
        self.paths = []

    def on_train_batch_end(self, batch, logs=None):
        self.paths.append(sorted(v.path for v in self.model.trainable_variables))


def fine_tuned_task():
    model, groups = three_layer_model(seed=0, batch_norm=True)
    task = FineTuned(model, groups, metadata={"batch_size": 16})
    task.compile(discriminative_optimizer(groups, ScheduledAdamW(1e-3)))
    return task


def sweep(task, **kwargs):
    logger, trainable = HyperparameterLogger(update_freq=1), Trainable()
    finder = task.lr_find(regression_data(n=64), start_lr=START, end_lr=END, total_steps=STEPS,
                          callbacks=[logger, trainable], verbose=0, **kwargs)
    rates = {name: np.array([row[f"lr/{name}"] for row in logger.steps])
             for name in ("early", "middle", "head")}
    return finder, rates, trainable.paths


def test_the_unfrozen_sweep_drives_every_group_at_fine_tunes_ratios_and_puts_all_back():
    task = fine_tuned_task()
    # Adam slots and one-cycle schedules installed, the body frozen (as after
    # fine_tune's first phase).
    task.fit_one_cycle(regression_data(n=64), epochs=1, lr_max=1e-3, verbose=0)
    freeze(task.network, task.layer_groups)
    weights = weights_of(task.network)
    state = [v.numpy().copy() for v in task.network.optimizer.variables]
    variable_paths = [v.path for v in task.network.optimizer.variables]
    trainable_before = sorted(v.path for v in task.network.trainable_variables)

    finder, rates, paths = sweep(task)  # the default phase of the fine_tune recipe
    assert finder.recipe == "fine_tune"  # the margin rule uses fine_tune's settings
    swept = START * (END / START) ** (np.arange(STEPS) / STEPS)
    np.testing.assert_allclose(finder.lrs, swept, rtol=1e-6)  # the rate is fine_tune's lr_max
    # fine_tune's unfrozen peaks for lr_max: lr_max / 2 / 100 (first group) .. lr_max / 2 (head).
    for name, ratio in (("early", 0.005), ("middle", 0.05), ("head", 0.5)):
        np.testing.assert_allclose(rates[name], swept * ratio, rtol=1e-5, err_msg=name)
    every = sorted(v.path for v in task.network.weights if v.path.split("/")[-1] in
                   ("kernel", "bias", "gamma", "beta"))
    assert paths == [every] * STEPS  # all groups trained during the sweep

    for path, value in weights_of(task.network).items():
        np.testing.assert_array_equal(value, weights[path], err_msg=path)
    # The sweep drove the groups' own (scheduled, so unused) `learning_rate`
    # variables: the optimizer's variable list is unchanged.
    assert [v.path for v in task.network.optimizer.variables] == variable_paths
    for before, variable in zip(state, task.network.optimizer.variables):
        np.testing.assert_array_equal(before, variable.numpy(), err_msg=variable.path)
    assert sorted(v.path for v in task.network.trainable_variables) == trainable_before


def test_the_ratios_are_those_fine_tune_trains_with():
    """fine_tune at lr_max: every group's logged rate is the pure one-cycle of lr_max x ratio."""
    task = fine_tuned_task()
    logger = HyperparameterLogger(update_freq=1)
    lr_max, steps = 0.02, 4  # 64 rows in batches of 16
    task.fine_tune(regression_data(n=64), epochs=2, lr_max=lr_max, freeze_epochs=1,
                   callbacks=[logger], verbose=0)
    unfrozen = logger.steps[steps:]
    ratios = fine_tune_group_ratios("unfrozen", 3)
    for name, ratio in zip(("early", "middle", "head"), ratios):
        expected = [np_one_cycle(s, 2 * steps, lr_max * ratio, div=5.0, pct_start=0.3)
                    for s in range(2 * steps)]
        np.testing.assert_allclose([row[f"lr/{name}"] for row in unfrozen], expected,
                                   rtol=1e-5, err_msg=name)
    frozen = logger.steps[:steps]
    for name, ratio in zip(("early", "middle", "head"), fine_tune_group_ratios("frozen", 3)):
        expected = [np_one_cycle(s, steps, lr_max * ratio, pct_start=0.99) for s in range(steps)]
        np.testing.assert_allclose([row[f"lr/{name}"] for row in frozen], expected,
                                   rtol=1e-5, err_msg=name)


def test_the_frozen_sweep_trains_the_head_and_normalization_only():
    task = fine_tuned_task()
    finder, rates, paths = sweep(task, phase="frozen")
    assert finder.recipe == "fine_tune"
    np.testing.assert_allclose(rates["head"], finder.lrs, rtol=1e-5)
    np.testing.assert_allclose(rates["early"], np.array(finder.lrs) / 10, rtol=1e-5)
    assert paths[0] == ["head/bias", "head/kernel", "norm/beta", "norm/gamma"]
    assert len(task.network.trainable_variables) == 8  # put back: everything trains again


def test_phase_is_checked():
    task = fine_tuned_task()
    with pytest.raises(ValueError, match="Received: phase='head'"):
        task.lr_find(regression_data(n=64), phase="head")
    model, groups = three_layer_model()
    plain = FineTuned(model, groups)
    plain.recipe = "fit_one_cycle"
    with pytest.raises(ValueError, match="applies to the fine_tune recipe"):
        plain.lr_find(regression_data(n=64), phase="unfrozen")
    with pytest.raises(ValueError, match="`phase` must be one of"):
        fine_tune_group_ratios("head", 3)


def test_a_one_cycle_task_sweeps_for_fit_one_cycle_and_recipe_is_checked():
    model, groups = three_layer_model()
    plain = FineTuned(model, groups, metadata={"batch_size": 16})
    plain.recipe = "fit_one_cycle"
    plain.compile(discriminative_optimizer(groups, ScheduledAdamW(1e-3)))
    finder = plain.lr_find(regression_data(n=64), total_steps=STEPS, verbose=0)
    assert finder.recipe == "fit_one_cycle"
    with pytest.raises(ValueError, match="Received: recipe='fit'"):
        LRFinder(recipe="fit")


@pytest.mark.parametrize("ratios", [[1.0, -1.0], [], "abc", [True, 1.0], [1.0, float("nan")]])
def test_bad_group_ratios(ratios):
    with pytest.raises(ValueError, match="`group_ratios` must be a list of positive floats"):
        LRFinder(group_ratios=ratios)


def test_group_ratios_must_match_the_groups_and_nothing_changes():
    task = fine_tuned_task()
    weights = weights_of(task.network)
    x, y = regression_data(n=64)
    with pytest.raises(ValueError, match="has 2 entries but the optimizer has 3"):
        lr_find(task.network, x, y, group_ratios=[1.0, 1.0], total_steps=5, verbose=0)
    for path, value in weights_of(task.network).items():
        np.testing.assert_array_equal(value, weights[path], err_msg=path)
