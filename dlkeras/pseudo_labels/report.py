"""What each pseudo-labelling round did: counts, pseudo-label accuracy, class histogram, validation.

Round 0 is the teacher trained on the labelled examples alone (the
labelled-only baseline); round `r >= 1` is the student trained on labelled
and pseudo-labelled examples chosen from round `r - 1`'s predictions.

Example:


>>> rounds = [RoundReport(0, 0, 100, None, [0, 0], {"accuracy": 0.8}, 1.0),
...           RoundReport(1, 60, 100, 0.95, [30, 30], {"accuracy": 0.86}, 2.0)]
>>> print(format_rounds(rounds))
round | pseudo-labels | pseudo accuracy | per class | validation accuracy | seconds
0 | labelled only | - | 0 0 | 0.8000 | 1
1 | 60 / 100 | 0.9500 | 30 30 | 0.8600 | 2
>>> plot_rounds(rounds).axes[0].get_xlabel()
'round'
"""

import dataclasses

import numpy as np

from dlkeras.plots import new_figure


@dataclasses.dataclass
class RoundReport:
    """One round of pseudo-labelling.

    Attributes:
        round: 0 for the labelled-only teacher, then 1, 2, ...
        num_pseudo: pseudo-labelled examples trained on (0 in round 0).
        num_unlabelled: size of the unlabelled set.
        pseudo_accuracy: share of pseudo-labels equal to the true label,
            when the true labels are known (benchmarks); else None.
        class_counts: pseudo-labels per class.
        validation: the task's validation metrics after the round (`Task.evaluate`).
        seconds: wall time of the round (prediction, selection, training).
    """

    round: int
    num_pseudo: int
    num_unlabelled: int
    pseudo_accuracy: object
    class_counts: list
    validation: dict
    seconds: float

    def to_dict(self):
        return dataclasses.asdict(self)


def validation_metric(report, metric="accuracy"):
    """`metric` from a round's validation results (the loss when the task has no such metric)."""
    return report.validation.get(metric, report.validation.get("loss", float("nan")))


def format_rounds(reports, metric="accuracy"):
    """A plain-text table, one line per round."""
    lines = [f"round | pseudo-labels | pseudo accuracy | per class | validation {metric} | seconds"]
    for r in reports:
        accuracy = "-" if r.pseudo_accuracy is None else f"{r.pseudo_accuracy:.4f}"
        count = f"{r.num_pseudo} / {r.num_unlabelled}" if r.round else "labelled only"
        lines.append(f"{r.round} | {count} | {accuracy} | "
                     f"{' '.join(str(c) for c in r.class_counts)} | "
                     f"{validation_metric(r, metric):.4f} | {r.seconds:.0f}")
    return "\n".join(lines)


def plot_rounds(reports, metric="accuracy", class_names=None):
    """A figure: validation metric and pseudo-label accuracy per round, and the class histograms.

    Returns:
        A matplotlib `Figure` (Agg canvas; nothing is shown).
    """
    figure = new_figure(10.0, 4.0)
    left, right = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    rounds = [r.round for r in reports]
    left.plot(rounds, [validation_metric(r, metric) for r in reports], "o-",
              label=f"validation {metric}")
    known = [r for r in reports if r.pseudo_accuracy is not None]
    if known:
        left.plot([r.round for r in known], [r.pseudo_accuracy for r in known], "s--",
                  label="pseudo-label accuracy")
    left.set_xlabel("round")
    left.set_xticks(rounds)
    left.legend()
    students = [r for r in reports if r.round > 0]
    if students:
        width = 0.8 / len(students)
        positions = np.arange(len(students[0].class_counts))
        for offset, r in enumerate(students):
            right.bar(positions + offset * width, r.class_counts, width, label=f"round {r.round}")
        right.set_xticks(positions + 0.4 - width / 2)
        right.set_xticklabels(class_names or [str(p) for p in positions], rotation=45,
                              ha="right", fontsize=8)
        right.legend()
    right.set_ylabel("pseudo-labels")
    right.set_title("pseudo-labels per class")
    figure.tight_layout()
    return figure


def log_round(report, log_dir):
    """Writes a round's numbers as TensorBoard scalars under `log_dir` (step = round)."""
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(log_dir))
    with writer.as_default():
        tf.summary.scalar("pseudo_labels/count", report.num_pseudo, step=report.round)
        if report.pseudo_accuracy is not None:
            tf.summary.scalar("pseudo_labels/accuracy", report.pseudo_accuracy, step=report.round)
        for name, value in report.validation.items():
            tf.summary.scalar(f"validation/{name}", value, step=report.round)
        counts = np.asarray(report.class_counts, np.float64)
        if counts.sum():
            tf.summary.histogram("pseudo_labels/classes", np.repeat(np.arange(len(counts)),
                                                                    counts.astype(np.int64)),
                                 step=report.round, buckets=len(counts))
    writer.flush()
    writer.close()
