"""Text data in the shapes users have: CSV/DataFrame, a folder per class, plain text files.

Classifier data is `(texts, labels)` or `(texts, labels, sample_weights)`,
or a DataFrame with a text and a label column. Labels are class names (one
per text), lists of class names (multi-label), or an `(N, classes)` array
of probabilities (soft targets, e.g. pseudo-labels). Language-model data is
any sequence of texts (labels ignored).

Example:

>>> texts, targets, weights = labelled_examples((["good", "bad"], ["pos", "neg"]),
...                                             classes=["neg", "pos"])
>>> targets.tolist(), weights
([[0.0, 1.0], [1.0, 0.0]], None)
"""
import pathlib

import numpy as np
import pandas as pd

TEXT_COLUMN, LABEL_COLUMN = "text", "label"


def texts_of(data, text_column=TEXT_COLUMN):
    """The texts of `data` (a DataFrame, a `(texts, labels...)` tuple, or a sequence of texts)."""
    if isinstance(data, pd.DataFrame):
        if text_column not in data.columns:
            raise KeyError(f"Text column {text_column!r} is not in the table; its columns: "
                           f"{list(data.columns)}")
        column = data[text_column]
    elif isinstance(data, tuple):
        column = data[0]
    elif isinstance(data, (str, bytes)):
        raise TypeError(f"Expected a sequence of texts, not one string. Received: {data[:50]!r}")
    else:
        column = data
    texts = [t if isinstance(t, (str, bytes)) else ("" if _missing(t) else str(t))
             for t in list(column)]
    return texts


def _missing(value):
    return value is None or (isinstance(value, float) and np.isnan(value))


def labels_of(data, label_column=LABEL_COLUMN):
    """`(labels, sample_weights or None)` of labelled data."""
    if isinstance(data, pd.DataFrame):
        if label_column not in data.columns:
            raise KeyError(f"Label column {label_column!r} is not in the table; its columns: "
                           f"{list(data.columns)}")
        return data[label_column].tolist(), None
    if isinstance(data, tuple) and len(data) in (2, 3):
        weights = None if len(data) == 2 else np.asarray(data[2], np.float32)
        labels = data[1]
        return (labels if isinstance(labels, np.ndarray) else list(labels)), weights
    raise TypeError("Labelled text data is a DataFrame or a (texts, labels[, sample_weights]) "
                    f"tuple. Received: {type(data).__name__}")


def infer_classes(labels):
    """Sorted class names of single- or multi-label `labels`, and whether they are multi-label."""
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        raise ValueError("Probability targets need the class names: pass `classes=`.")
    multi = any(isinstance(item, (list, tuple, set)) for item in labels)
    names = set()
    for label in labels:
        if multi:
            names.update(str(c) for c in (label if isinstance(label, (list, tuple, set)) else [label]))
        elif not _missing(label):
            names.add(str(label))
    if len(names) < (1 if multi else 2):
        raise ValueError(f"Need at least two classes to train a classifier. Received classes: "
                         f"{sorted(names)}")
    return sorted(names), multi


def encode_targets(labels, classes, multi_label):
    """`(N, len(classes))` float32 targets: one-hot, multi-hot or the given probabilities."""
    index = {name: position for position, name in enumerate(classes)}
    if isinstance(labels, np.ndarray) and labels.ndim == 2:
        if labels.shape[1] != len(classes):
            raise ValueError(f"Probability targets have {labels.shape[1]} columns for "
                             f"{len(classes)} classes {classes}.")
        targets = labels.astype(np.float32)
        bad = np.flatnonzero(~((targets >= 0) & (targets <= 1)).all(axis=1))  # NaN included
        if len(bad):
            raise ValueError(f"Probability targets must lie in [0, 1]: {len(bad)} row(s) do not, "
                             f"e.g. row {bad[0]}: {labels[bad[0]].tolist()}")
        return targets
    targets = np.zeros((len(labels), len(classes)), np.float32)
    for row, label in enumerate(labels):
        names = label if isinstance(label, (list, tuple, set)) else [label]
        if not multi_label and len(names) != 1:
            raise ValueError(f"Row {row} has labels {label!r}; this classifier is single-label.")
        for name in names:
            if str(name) not in index:
                from apps.cli import did_you_mean

                raise ValueError(f"Unknown label at row {row}. Received: label={name!r}"
                                 f"{did_you_mean(name, classes)}; classes: {classes}")
            targets[row, index[str(name)]] = 1.0
    return targets


def labelled_examples(data, classes, multi_label=False, text_column=TEXT_COLUMN,
                      label_column=LABEL_COLUMN):
    """`(texts, targets (N, C) float32, sample_weights or None)` of labelled data."""
    texts = texts_of(data, text_column)
    labels, weights = labels_of(data, label_column)
    if len(labels) != len(texts) or (weights is not None and len(weights) != len(texts)):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels"
                         + (f" and {len(weights)} sample weights" if weights is not None else ""))
    return texts, encode_targets(labels, classes, multi_label), weights


def read_csv(path, text_column, label_column=None, label_delimiter=None):
    """A CSV as a DataFrame with `text` (and `label`) columns; `label_delimiter` splits multi-labels."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CSV file {str(path)!r} does not exist.")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    columns = [text_column] + ([label_column] if label_column else [])
    for column in columns:
        if column not in frame.columns:
            from apps.cli import did_you_mean

            raise KeyError(f"Column {column!r} is not in {str(path)!r}"
                           f"{did_you_mean(column, frame.columns)}; its columns: "
                           f"{list(frame.columns)}")
    result = pd.DataFrame({TEXT_COLUMN: frame[text_column]})
    if label_column:
        labels = frame[label_column]
        if label_delimiter:
            labels = labels.map(lambda v: [p.strip() for p in v.split(label_delimiter) if p.strip()])
        result[LABEL_COLUMN] = labels
    return result


def read_folder(root):
    """One sub-folder per class of `.txt` files (the IMDb layout) as a DataFrame."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder of class folders.")
    rows = [(path.read_text(encoding="utf-8", errors="replace"), folder.name)
            for folder in sorted(p for p in root.iterdir() if p.is_dir())
            for path in sorted(folder.glob("*.txt"))]
    if not rows:
        raise ValueError(f"No <class>/*.txt files under {str(root)!r}.")
    return pd.DataFrame(rows, columns=[TEXT_COLUMN, LABEL_COLUMN])


def read_text_files(paths):
    """Plain text files as language-model documents: one per paragraph (blank-line separated)."""
    documents = []
    for path in paths:
        path = pathlib.Path(path)
        if path.is_dir():
            documents += read_text_files(sorted(path.rglob("*.txt")))
            continue
        if not path.is_file():
            raise FileNotFoundError(f"Text file {str(path)!r} does not exist.")
        text = path.read_text(encoding="utf-8", errors="replace")
        documents += [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    return documents
