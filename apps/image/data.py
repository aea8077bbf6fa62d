"""Where labelled images come from: class folders, CSV/DataFrames or arrays.

Every constructor returns an `ImageSource`, a plain record of either file
paths or in-memory pixels plus targets, that `dlkeras.data.random_split` divides
with a seed and `apps.image.pipeline` turns into `tf.data` batches.
"""

__all__ = ["ImageSource", "from_arrays", "from_csv", "from_dataframe", "from_folder"]

import dataclasses
import pathlib
from typing import Optional

import numpy as np
import pandas as pd

from apps.image.files import IMAGE_EXTENSIONS, drop_unreadable, logger

TASKS = ("single_label", "multi_label", "regression")


@dataclasses.dataclass
class ImageSource:
    """Labelled images, as file paths or as an array of pixels.

    Args:
        targets: int32 class indices `(N,)` (single-label), float32 multi-hot
            `(N, C)` (multi-label) or float32 `(N, K)` (regression).
        task: one of `"single_label"`, `"multi_label"`, `"regression"`.
        class_names: class (or output) names, one per model output.
        paths: file paths (strings), or None when `images` is given.
        images: uint8 `(N, H, W)`, `(N, H, W, 1)` or `(N, H, W, 3)`.
        skipped: `(path, reason)` for files dropped as unreadable.

    Example:

    >>> source = from_arrays(np.zeros((4, 8, 8), np.uint8), [0, 1, 0, 1])
    >>> len(source), source.class_names
    (4, ['0', '1'])
    """
    targets: np.ndarray
    task: str
    class_names: list
    paths: Optional[list] = None
    images: Optional[np.ndarray] = None
    skipped: list = dataclasses.field(default_factory=list)

    def __len__(self):
        return len(self.targets)

    def subset(self, indices):
        """Returns the examples at `indices` as a new source."""
        indices = np.asarray(indices, dtype=np.int64)
        return dataclasses.replace(
            self, targets=self.targets[indices],
            paths=None if self.paths is None else [self.paths[i] for i in indices],
            images=None if self.images is None else self.images[indices])


def from_folder(root, check_files=True):
    """Reads `root/<class name>/<image file>` (one sub-folder per class).

    A sub-folder without (readable) image files is not a class: it is
    skipped with a warning naming it, as are hidden folders (".name").
    At least two classes must remain.

    Args:
        root: directory whose sub-folders are the classes (sorted by name).
        check_files: decode every file once and skip (with a warning naming
            it) those that cannot be decoded.

    Returns:
        A single-label `ImageSource` of file paths.

    Example:

    >>> import tempfile
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("cats", "dogs", "empty"):
    ...     (root / name).mkdir()
    >>> for name in ("cats", "dogs"):
    ...     Image.new("RGB", (8, 8)).save(root / name / "1.png")
    >>> from_folder(root).class_names
    ['cats', 'dogs']
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Image folder not found: {str(root)!r}")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(
            f"{str(root)!r} has no class sub-folders; expected "
            "root/<class name>/<image files>.")
    paths, labels = [], []
    for index, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.rglob("*")
                       if p.suffix.lower() in IMAGE_EXTENSIONS)
        paths += [str(p) for p in files]
        labels += [index] * len(files)
    if not paths:
        raise ValueError(
            f"No image files ({', '.join(IMAGE_EXTENSIONS)}) under {str(root)!r}.")
    source = ImageSource(targets=np.asarray(labels, np.int32), task="single_label",
                         class_names=[p.name for p in class_dirs], paths=paths)
    source = _checked(source) if check_files else source
    return _without_empty_classes(source, f"{str(root)!r}")


def from_dataframe(frame, path_column="path", label_columns="label",
                   image_root=None, task=None, label_delimiter=" ",
                   check_files=True):
    """Reads image paths and labels from a DataFrame.

    Args:
        frame: a `pandas.DataFrame`.
        path_column: column of image paths (relative to `image_root`).
        label_columns: a column name, or a list of numeric columns (regression).
        image_root: directory the paths are relative to (default: as given).
        task: `"single_label"`, `"multi_label"` (labels are tags joined by
            `label_delimiter`) or `"regression"`; None guesses: several
            columns or a numeric float column mean regression, a delimiter in
            any label means multi-label, else single-label.
        label_delimiter: separator of the tags of a multi-label row.
        check_files: skip (naming them) files that cannot be decoded.

    Returns:
        An `ImageSource` of file paths.

    Example:

    >>> frame = pd.DataFrame({"path": ["a.png"], "label": ["cat dog"]})
    >>> from_dataframe(frame, check_files=False).task
    'multi_label'
    """
    columns = [label_columns] if isinstance(label_columns, str) else list(label_columns)
    for column in [path_column] + columns:
        if column not in frame.columns:
            raise KeyError(f"Column {column!r} not in the table; its columns "
                           f"are {list(frame.columns)}.")
    task = task or _guess_task(frame, columns, label_delimiter)
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")
    root = pathlib.Path(image_root) if image_root is not None else None
    paths = [str(root / p) if root else str(p) for p in frame[path_column]]
    targets, class_names = _targets_from_columns(frame, columns, task, label_delimiter)
    source = ImageSource(targets=targets, task=task, class_names=class_names, paths=paths)
    source = _checked(source) if check_files else source
    if task == "single_label":
        return _without_empty_classes(source, f"column {columns[0]!r}")
    return source


def from_csv(csv_path, path_column="path", label_columns="label", image_root=None,
             **kwargs):
    """Like `from_dataframe` for a CSV file; paths are relative to its folder.

    Example:

    >>> import tempfile
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (8, 8)).save(root / "a.png")
    >>> _ = (root / "labels.csv").write_text("path,tags\\na.png,cat dog\\n")
    >>> from_csv(root / "labels.csv", label_columns="tags").class_names
    ['cat', 'dog']
    """
    csv_path = pathlib.Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"CSV file not found: {str(csv_path)!r}")
    frame = pd.read_csv(csv_path, keep_default_na=False)
    root = image_root if image_root is not None else csv_path.parent
    return from_dataframe(frame, path_column, label_columns, image_root=root, **kwargs)


def from_arrays(images, labels, class_names=None, task="single_label"):
    """Wraps in-memory pixels (uint8, 0..255) and their labels.

    Args:
        images: `(N, H, W)`, `(N, H, W, 1)` or `(N, H, W, 3)` values in 0..255.
        labels: class indices `(N,)`, multi-hot `(N, C)` or regression
            targets `(N,)`/`(N, K)` according to `task`.
        class_names: names of the classes/outputs (default `"0"`, `"1"`, ...).
        task: one of `"single_label"`, `"multi_label"`, `"regression"`.

    Example:

    >>> from_arrays(np.zeros((2, 4, 4, 3)), [[1, 0], [1, 1]], task="multi_label").targets.shape
    (2, 2)
    """
    images = np.asarray(images)
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (1, 3)):
        raise ValueError("`images` must have shape (N, H, W), (N, H, W, 1) or "
                         f"(N, H, W, 3). Received: shape={images.shape}")
    images = checked_pixels(images, "images")
    if task not in TASKS:
        raise ValueError(f"`task` must be one of {TASKS}. Received: task={task!r}")
    targets = _array_targets(np.asarray(labels), task)
    if len(targets) != len(images):
        raise ValueError(f"{len(images)} images but {len(targets)} labels.")
    width = int(targets.max()) + 1 if task == "single_label" else targets.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(width)]
    if len(names) < width:
        raise ValueError(f"{len(names)} class names for {width} classes/outputs: {names}")
    if task == "single_label":
        _check_class_count(names, "the labels")
    return ImageSource(targets=targets, task=task, class_names=names, images=images)


def checked_pixels(pixels, name="pixels"):
    """`pixels` as uint8, refusing values that a cast would change.

    Integers must lie in 0..255; floats must be whole numbers in 0..255 (a
    float image in 0..1 would otherwise turn almost black); nothing else is
    taken.

    Example:

    >>> checked_pixels(np.array([[0.0, 255.0]])).dtype
    dtype('uint8')
    >>> checked_pixels(np.array([[0.2, 0.9]]))
    Traceback (most recent call last):
    ...
    ValueError: pixels must be whole numbers in 0..255 (uint8); ... look like 0..1 floats: ...
    """
    pixels = np.asarray(pixels)
    if pixels.size == 0 and pixels.dtype.kind in "iuf":
        return pixels.astype(np.uint8)
    if pixels.dtype.kind not in "iuf":
        raise ValueError(f"{name} must be numbers in 0..255 (uint8). Received dtype "
                         f"{pixels.dtype}")
    low, high = pixels.min(), pixels.max()
    if pixels.dtype.kind == "f":
        if not np.isfinite(pixels).all():
            raise ValueError(f"{name} holds NaN or infinite values; pixels are 0..255.")
        if (pixels != np.round(pixels)).any() or (0 < high <= 1.0):
            hint = (", which look like 0..1 floats: multiply by 255 first" if high <= 1.0
                    else "")
            raise ValueError(f"{name} must be whole numbers in 0..255 (uint8); received "
                             f"{pixels.dtype} values in [{low:g}, {high:g}]{hint}.")
    if low < 0 or high > 255:
        raise ValueError(f"`{name}` must hold pixel values in 0..255. Received "
                         f"range [{low}, {high}]")
    return pixels.astype(np.uint8)


def _check_class_count(names, where):
    if len(names) < 2:
        raise ValueError(f"Single-label images need at least 2 classes; {where} hold(s) "
                         f"{len(names)}: {list(names)}.")


def _without_empty_classes(source, where):
    """Drops classes without any (readable) image, with a warning; needs 2 classes left."""
    counts = np.bincount(source.targets, minlength=len(source.class_names))
    empty = [name for name, count in zip(source.class_names, counts) if count == 0]
    for name in empty:
        logger.warning("Class %r of %s has no readable image; it is not a class.", name, where)
    kept = [index for index, count in enumerate(counts) if count > 0]
    _check_class_count([source.class_names[i] for i in kept], where)
    if not empty:
        return source
    remap = np.full(len(counts), -1, np.int32)
    remap[kept] = np.arange(len(kept), dtype=np.int32)
    return dataclasses.replace(source, targets=remap[source.targets],
                               class_names=[source.class_names[i] for i in kept])


def _checked(source):
    keep, skipped = drop_unreadable(source.paths)
    if not keep:
        raise ValueError(f"None of the {len(source.paths)} image files could be "
                         f"read; first problem: {skipped[0]}")
    checked = source.subset(keep)
    checked.skipped = skipped
    return checked


def _guess_task(frame, columns, delimiter):
    if len(columns) > 1 or pd.api.types.is_float_dtype(frame[columns[0]]):
        return "regression"
    labels = frame[columns[0]].astype(str)
    return "multi_label" if labels.str.contains(delimiter, regex=False).any() else "single_label"


def _targets_from_columns(frame, columns, task, delimiter):
    if task == "regression":
        try:
            values = frame[columns].to_numpy(dtype=np.float32)
        except ValueError as error:
            raise ValueError(f"Regression columns {columns} must be numeric: {error}") from None
        bad = ~np.isfinite(values)
        if bad.any():
            row, column = np.argwhere(bad)[0]
            raise ValueError(f"Regression column {columns[column]!r} holds {int(bad.sum())} "
                             f"missing or infinite value(s), e.g. at row {row}: drop or fix them.")
        return values, list(columns)
    labels = frame[columns[0]].astype(str).str.strip()
    if task == "single_label":
        names = sorted(labels.unique())
        lookup = {name: i for i, name in enumerate(names)}
        return np.asarray([lookup[v] for v in labels], np.int32), names
    tags = [[t for t in row.split(delimiter) if t] for row in labels]
    names = sorted({t for row in tags for t in row})
    lookup = {name: i for i, name in enumerate(names)}
    multi_hot = np.zeros((len(tags), len(names)), np.float32)
    for row_index, row in enumerate(tags):
        multi_hot[row_index, [lookup[t] for t in row]] = 1.0
    return multi_hot, names


def _array_targets(labels, task):
    if task == "single_label":
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise ValueError("single-label `labels` must be non-negative integer class "
                             f"indices of shape (N,). Received: shape={labels.shape}, "
                             f"dtype={labels.dtype}")
        return labels.astype(np.int32)
    if task == "multi_label" and (labels.ndim != 2 or not np.isin(labels, (0, 1)).all()):
        raise ValueError("multi-label `labels` must be a 0/1 array of shape (N, C). "
                         f"Received: shape={labels.shape}")
    return labels.reshape(len(labels), -1).astype(np.float32)
