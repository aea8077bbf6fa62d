"""Every core module's docstring examples run and give the values they show."""

import doctest
import importlib

import pytest

CORE_MODULES = [
    "dlkeras", "dlkeras.annealers", "dlkeras.schedules", "dlkeras.step_evaluation",
    "dlkeras.host_math",
    "dlkeras.optimizers",
    "dlkeras.optimizers.scheduled", "dlkeras.optimizers.adam", "dlkeras.optimizers.sgd",
    "dlkeras.optimizers.restoring",
    "dlkeras.layer_groups", "dlkeras.discriminative", "dlkeras.freezing",
    "dlkeras.steps_per_execution",
    "dlkeras.installing", "dlkeras.keras_internals", "dlkeras.lr_suggestions", "dlkeras.distribute",
    "dlkeras.shards",
    "dlkeras.data", "dlkeras.layers", "dlkeras.layers.scaled_sigmoid",
    "dlkeras.layers.embedding_sizes", "dlkeras.tasks", "dlkeras.tasks.task",
    "dlkeras.tasks.run_folder", "dlkeras.folders", "dlkeras.checkpoints", "dlkeras.phases",
    "dlkeras.callbacks.checkpointing", "dlkeras.callbacks.non_finite_loss", "dlkeras.plots", "dlkeras.export",
    "dlkeras.recipes", "dlkeras.callbacks.lr_finder", "dlkeras.callbacks.one_cycle",
    "dlkeras.traced_cycles",
    "dlkeras.callbacks.hyperparameter_logger", "dlkeras.callbacks.gradual_unfreezing",
    "dlkeras.pseudo_labels", "dlkeras.pseudo_labels.targets", "dlkeras.pseudo_labels.selection",
    "dlkeras.pseudo_labels.mixing", "dlkeras.pseudo_labels.report",
    "dlkeras.pseudo_labels.model_task", "dlkeras.pseudo_labels.trainer",
]


@pytest.mark.parametrize("name", CORE_MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
