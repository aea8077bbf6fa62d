"""Pseudo-labelling for any classifier task: selection, batch mixing, rounds, reports.

- `select_pseudo_labels`: confidence threshold and/or class-balanced top fraction;
- `TargetFormat`: hard or soft pseudo-targets in the task's own target format;
- `mix_batches`, `mix_stream`: `tf.data` batches (or a task's `BatchStream`) with an exact
  pseudo-labelled share;
- `PseudoLabelTrainer`: rounds of teacher prediction, selection and student training
  with the task's own recipe;
- `RoundReport`, `format_rounds`, `plot_rounds`: what each round did;
- `ModelTask`: any compiled Keras classifier as a `Task`.

Example:


>>> from dlkeras.pseudo_labels import PseudoLabelTrainer
>>> PseudoLabelTrainer(rounds=2, top_fraction=0.5).get_config()["pseudo_fraction"]
0.25
"""

from dlkeras.pseudo_labels.mixing import (
                                          batch_shares,
                                          labelled_examples,
                                          mix_batches,
                                          mix_stream,
                                          pseudo_examples,
)
from dlkeras.pseudo_labels.model_task import ModelTask, as_task, count_examples
from dlkeras.pseudo_labels.report import RoundReport, format_rounds, log_round, plot_rounds
from dlkeras.pseudo_labels.selection import Selection, select_pseudo_labels
from dlkeras.pseudo_labels.targets import TargetFormat
from dlkeras.pseudo_labels.trainer import PseudoLabelTrainer

__all__ = [
    "ModelTask", "PseudoLabelTrainer", "RoundReport", "Selection", "TargetFormat", "as_task",
    "batch_shares", "count_examples", "format_rounds", "labelled_examples", "log_round",
    "mix_batches", "mix_stream", "plot_rounds", "pseudo_examples", "select_pseudo_labels",
]
