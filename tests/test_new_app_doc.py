"""docs/new-app.md: its toy app builds, trains, saves, reloads and exports as written."""
import json
import pathlib
import re
import sys

import numpy as np
import tensorflow as tf

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "new-app.md"


def test_the_toy_app_of_the_guide_works_end_to_end(tmp_path, monkeypatch):
    module_code, usage_code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert len(module_code.splitlines()) < 80  # "a toy task, under ~80 lines"
    (tmp_path / "toy_signal_app.py").write_text(module_code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import toy_signal_app

    namespace = {"SignalTask": toy_signal_app.SignalTask}
    exec(compile(usage_code, str(DOC), "exec"), namespace)
    task, again = namespace["task"], namespace["again"]
    assert type(again).__name__ == "SignalTask" and again is not task
    assert task.evaluate(namespace["valid"])["accuracy"] > 0.9
    valid_signals = namespace["valid"][0]
    np.testing.assert_allclose(again.predict(valid_signals), task.predict(valid_signals),
                               atol=1e-6)
    saved = tmp_path / "saved_models" / "signals" / "1"
    assert json.loads((saved / "assets.extra" / "task.json").read_text())["task"] == "SignalTask"
    served = tf.saved_model.load(str(saved)).signatures["serving_default"](
        signal=tf.constant(valid_signals[:4]))
    np.testing.assert_allclose(served["probability"].numpy(), task.predict(valid_signals[:4])[:, 0],
                               atol=1e-5)
    sys.modules.pop("toy_signal_app", None)
