"""What a training run leaves behind: confusion matrix, top losses, word importance.

Example:

>>> import tempfile
>>> from apps.text.classifier_task import TextClassifierTask
>>> task = TextClassifierTask.create(["[PAD]", "[UNK]", "[BOS]", "good", "bad"], ["neg", "pos"],
...                                  embedding_dim=4, hidden_units=4, layers=1, batch_size=2)
>>> paths = write_reports(task, (["good", "bad"], ["pos", "neg"]), tempfile.mkdtemp())
>>> sorted(paths)
['confusion matrix', 'top losses', 'word importance']
"""

__all__ = ["write_reports"]

import pathlib

from apps.text import interpret
from apps.text.data import labelled_examples


def write_reports(task, valid, run_dir, log_dir=None, top=10, explained=10):
    """Writes the reports of `task` on labelled `valid` data into `run_dir`.

    Args:
        task: a trained `TextClassifierTask`.
        valid: labelled validation data.
        run_dir: folder for `confusion_matrix.png`, `top_losses.csv`, `importance.html`.
        log_dir: TensorBoard folder for the matrix image and the importance text, or None.
        top: how many top losses to keep.
        explained: how many of the top-loss texts to explain word by word.

    Returns:
        `{label: path}` of what was written.
    """
    from dlkeras.plots import save_figure

    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    losses = interpret.top_losses(task, valid, k=top)
    losses.to_csv(run_dir / "top_losses.csv", index=False)
    paths["top losses"] = str(run_dir / "top_losses.csv")
    if not task.multi_label:
        texts, targets, _ = labelled_examples(valid, task.classes, False,
                                              task.metadata.get("text_column", "text"),
                                              task.metadata.get("label_column", "label"))
        predicted = task.predict(texts).argmax(axis=1)
        matrix = interpret.confusion_matrix(targets.argmax(axis=1), predicted, len(task.classes))
        paths["confusion matrix"] = str(save_figure(
            interpret.plot_confusion_matrix(matrix, task.classes),
            run_dir / "confusion_matrix.png", log_dir, "confusion_matrix"))
    interpret.write_importance(task, list(losses["text"][:explained]),
                               html_path=run_dir / "importance.html", log_dir=log_dir)
    paths["word importance"] = str(run_dir / "importance.html")
    return paths
