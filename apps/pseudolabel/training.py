"""The `train` command's pseudo-labelling rounds and their reports, for any underlying app.

`train_with_pseudo_labels` runs `dlkeras.pseudo_labels.PseudoLabelTrainer`
with the command's flags and the underlying app's extras (its teacher TTA
and pseudo-batch augmentation, from `apps.pseudolabel.sources`), printing
each round as it ends. `write_round_reports` saves the per-round figure
(PNG and TensorBoard) and `pseudo_labels.json` in the run folder.

Example:


>>> from dlkeras.pseudo_labels import RoundReport
>>> rounds = [RoundReport(0, 0, 0, None, [0, 0], {"accuracy": 0.8}, 1.0),
...           RoundReport(1, 40, 50, 0.9, [20, 20], {"accuracy": 0.85}, 2.0)]
>>> numbers = round_numbers(rounds)
>>> numbers["labelled_only_accuracy"], numbers["pseudo_labelled_accuracy"], numbers["pseudo_labels"]
(0.8, 0.85, 40)
"""

__all__ = ["PseudoLabelTrainer", "train_with_pseudo_labels"]

import json
import pathlib

from apps.pseudolabel.sources import ADAPTERS
from dlkeras.plots import save_figure
from dlkeras.pseudo_labels import PseudoLabelTrainer, format_rounds, plot_rounds


def trainer_from_args(args):
    """The `PseudoLabelTrainer` the command's flags describe."""
    return PseudoLabelTrainer(
        args.rounds, threshold=_one_or_per_round(args.threshold),
        top_fraction=_one_or_per_round(args.top_fraction),
        class_balanced=not args.no_class_balance, soft=args.soft,
        pseudo_weight=args.pseudo_weight, pseudo_fraction=args.pseudo_fraction,
        student_start=args.student_start, steps_per_epoch=args.student_steps)


def _one_or_per_round(values):
    """A flag's values (`nargs="+"`): one number, or the list of per-round values."""
    if values is None or len(values) > 1:
        return values
    return values[0]


def train_with_pseudo_labels(task, labelled, valid, args, **train_kwargs):
    """Round 0 on the labelled data, then `--rounds` students; returns the `RoundReport`s.

    The settings and the rounds' numbers go into `task.metadata["pseudo_labelling"]`,
    so the run folder and the SavedModel's metadata say how the model was trained.
    """
    adapter = ADAPTERS[args.task]()
    unlabelled = args.unlabelled_set
    trainer = trainer_from_args(args)
    print(f"pseudo-labelling: {json.dumps(trainer.get_config())}")

    def show(report):
        print(format_rounds([report]).splitlines()[-1] if report.round else
              format_rounds([report]))

    reports = trainer.fit(task, labelled, adapter.inputs(task, unlabelled),
                          validation_data=valid,
                          unlabelled_targets=adapter.true_targets(task, unlabelled),
                          teacher_predict=adapter.teacher_predict(task, args),
                          pseudo_transform=adapter.pseudo_transform(task, args),
                          on_round_end=show, **train_kwargs)
    task.metadata["pseudo_labelling"] = {**trainer.get_config(),
                                         "rounds": [r.to_dict() for r in reports]}
    return reports


def round_numbers(reports, metric="accuracy"):
    """The numbers worth a line in `metrics.json`: first and last round, last pseudo-labels."""
    first, last = reports[0], reports[-1]
    numbers = {f"labelled_only_{metric}": first.validation.get(metric),
               f"pseudo_labelled_{metric}": last.validation.get(metric),
               "pseudo_labels": last.num_pseudo}
    if last.pseudo_accuracy is not None:
        numbers["pseudo_label_accuracy"] = last.pseudo_accuracy
    return {k: v for k, v in numbers.items() if v is not None}


def write_round_reports(reports, task, run_dir, args):
    """Writes `pseudo_labels.png` (and to TensorBoard) and `pseudo_labels.json`; returns extras."""
    run_dir = pathlib.Path(run_dir)
    log_dir = args.log_dir or str(run_dir / "logs")
    names = task.metadata.get("class_names") or (task.metadata.get("roles") or {}).get("classes")
    figure = plot_rounds(reports, class_names=names)
    plot = save_figure(figure, run_dir / "pseudo_labels.png", log_dir=log_dir,
                       tag="pseudo_labels/rounds")
    table = run_dir / "pseudo_labels.json"
    table.write_text(json.dumps([r.to_dict() for r in reports], indent=1))
    return {**round_numbers(reports), "pseudo-labelling rounds": str(plot),
            "pseudo-labelling table": str(table)}
