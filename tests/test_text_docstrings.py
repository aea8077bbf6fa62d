"""Text app: every module's docstring examples run and give the values they show."""
import doctest
import importlib

import pytest

TEXT_MODULES = [
    "apps.text", "apps.text.datasets", "apps.text.tokenizer", "apps.text.layers",
    "apps.text.network", "apps.text.streams", "apps.text.batching", "apps.text.data",
    "apps.text.metrics", "apps.text.encoder_files", "apps.text.lm_task",
    "apps.text.classifier_task", "apps.text.recipe", "apps.text.interpret", "apps.text.report",
    "apps.text.pretrain",
]


@pytest.mark.parametrize("name", TEXT_MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"
    assert result.attempted > 0, f"{name} shows no example"
