"""The underlying apps' data kinds, as pseudo-labelling needs them.

One adapter per app (`ADAPTERS`): how to keep a seeded fraction of a
labelled set's labels (`split`), how to read an unlabelled set from a path
in that app's format (`read_unlabelled`), what the task takes as its
unlabelled inputs and which true labels are known (`inputs`, `true_targets`),
and the app's own teacher and student extras: test-time augmentation for
the teacher's predictions, and for the pseudo-labelled batches the
augmentation the app applies to its labelled ones.

Example:


>>> import pandas as pd
>>> labelled, rest = TabularAdapter().split(pd.DataFrame({"x": range(10)}), 0.3, seed=0)
>>> len(labelled), len(rest.data), rest.labelled
(3, 7, True)
"""

__all__ = ["ADAPTERS"]

import dataclasses
import pathlib

import numpy as np

# Added to the image task's augmentation seed for the pseudo-labelled part of each batch.
PSEUDO_SEED_OFFSET = 7919


@dataclasses.dataclass
class Unlabelled:
    """The unlabelled set in the app's data kind; `labelled`: whether true labels came with it."""

    data: object
    labelled: bool


def seeded_positions(count, fraction, seed):
    """`(kept, rest)` sorted positions, `round(fraction * count)` kept, by a seeded permutation."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"--labelled-fraction must be in (0, 1). Received: {fraction!r}")
    kept = int(round(fraction * count))
    if not 0 < kept < count:
        raise ValueError(f"--labelled-fraction {fraction} of {count} examples keeps {kept} "
                         "labelled; need at least one labelled and one unlabelled example.")
    order = np.random.RandomState(seed).permutation(count)
    return np.sort(order[:kept]), np.sort(order[kept:])


class ImageAdapter:
    """`apps.image`: `ImageSource`s (folders, CSVs, arrays)."""

    def split(self, source, fraction, seed):
        kept, rest = seeded_positions(len(source), fraction, seed)
        return source.subset(kept), Unlabelled(source.subset(rest), labelled=True)

    def read_unlabelled(self, path, args, labelled):
        """A folder (with class sub-folders named like the labelled classes: labels known;
        else every image under it) or a CSV of image paths (`--path-column`)."""
        from apps.image import data
        from apps.image.files import IMAGE_EXTENSIONS, drop_unreadable

        path = pathlib.Path(path)
        targets = None
        if path.is_dir():
            paths, targets = _folder_images(path, labelled.class_names, IMAGE_EXTENSIONS)
        elif path.suffix.lower() == ".csv" and path.is_file():
            import pandas as pd

            frame = pd.read_csv(path, keep_default_na=False)
            if args.path_column not in frame.columns:
                raise KeyError(f"--unlabelled {str(path)!r} has no column {args.path_column!r} "
                               f"(--path-column); its columns: {list(frame.columns)}")
            paths = [str(path.parent / p) for p in frame[args.path_column]]
        else:
            raise FileNotFoundError(f"--unlabelled {str(path)!r} is neither a folder of images "
                                    "nor a .csv file of image paths.")
        readable, skipped = drop_unreadable(paths)
        if not readable:
            raise ValueError(f"No readable image files under --unlabelled {str(path)!r}"
                             f"{f'; first problem: {skipped[0]}' if skipped else ''}.")
        source = data.ImageSource(
            targets=np.zeros(len(paths), np.int32) if targets is None else targets,
            task="single_label", class_names=list(labelled.class_names), paths=paths)
        source = source.subset(readable)
        source.skipped = skipped
        return Unlabelled(source, labelled=targets is not None)

    def inputs(self, task, unlabelled):
        return unlabelled.data

    def true_targets(self, task, unlabelled):
        return unlabelled.data.targets if unlabelled.labelled else None

    def teacher_predict(self, task, args):
        """Test-time augmentation (flips only where the task trains with flips), unless off."""
        if args.no_teacher_tta:
            return None
        from apps.image.tta import tta_predict

        views = ("flip", "zoom", "flip_zoom") if task.metadata.get("flip", True) else ("zoom",)
        return lambda network, features: tta_predict(network, features, views=views)

    def pseudo_transform(self, task, args):
        """The image task's training augmentation, for the pseudo-labelled images too."""
        if not task.metadata.get("augment", True):
            return None
        from apps.image.pipeline import default_augmentation

        # Drawn from the batch's position like the labelled batches, under another seed so
        # the two parts of a batch are not transformed alike.
        seed = (task.metadata.get("seed") or 0) + PSEUDO_SEED_OFFSET
        augmentation = default_augmentation(flip=task.metadata.get("flip", True), seed=seed)

        def augment(images, position=None):
            return augmentation(images, training=True, position=position)

        return augment


def _folder_images(root, class_names, extensions):
    """`(paths, targets)` of the images under `root`; targets only when its sub-folders are
    some of `class_names` (any subset, even one class), else None. Hidden entries are skipped."""
    sub_folders = [p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    known = bool(sub_folders) and set(sub_folders) <= set(class_names)
    files = [p.relative_to(root) for p in sorted(root.rglob("*"))
             if p.suffix.lower() in extensions
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    if not known:
        return [str(root / f) for f in files], None
    files = [f for f in files if len(f.parts) > 1]
    return ([str(root / f) for f in files],
            np.asarray([class_names.index(f.parts[0]) for f in files], np.int32))


class TabularAdapter:
    """`apps.tabular`: pandas DataFrames."""

    def split(self, frame, fraction, seed):
        kept, rest = seeded_positions(len(frame), fraction, seed)
        return (frame.iloc[kept].reset_index(drop=True),
                Unlabelled(frame.iloc[rest].reset_index(drop=True), labelled=True))

    def read_unlabelled(self, path, args, labelled):
        """A CSV with the input columns; a complete target column, if present, is used to
        report the pseudo-labels' accuracy (never to train)."""
        from apps.tabular.frames import read_csv

        frame = read_csv(path)
        targets = [name for name in args.target if name in frame.columns]
        known = len(targets) == len(args.target) and not frame[targets].isna().any().any()
        return Unlabelled(frame, labelled=known)

    def inputs(self, task, unlabelled):
        present = [name for name in task.roles.y_names if name in unlabelled.data.columns]
        return unlabelled.data.drop(columns=present)

    def true_targets(self, task, unlabelled):
        from apps.tabular.frames import encode_target

        if not unlabelled.labelled:
            return None
        try:
            return encode_target(unlabelled.data, task.roles)
        except (KeyError, ValueError):  # e.g. a class unseen in the labelled rows
            return None

    def teacher_predict(self, task, args):
        return None

    def pseudo_transform(self, task, args):
        return None


class TextAdapter:
    """`apps.text`: DataFrames with `text` and `label` columns (`apps.text.data.read_csv`)."""

    def split(self, frame, fraction, seed):
        kept, rest = seeded_positions(len(frame), fraction, seed)
        return (frame.iloc[kept].reset_index(drop=True),
                Unlabelled(frame.iloc[rest].reset_index(drop=True), labelled=True))

    def read_unlabelled(self, path, args, labelled):
        """A CSV with the `--text` column (a complete `--label` column, if present, only
        reports the pseudo-labels' accuracy), or .txt files/a folder of them, one text per
        paragraph (as `apps.text`'s `--unlabelled`)."""
        import pandas as pd

        from apps.text.data import read_csv, read_text_files

        path = pathlib.Path(path)
        if path.suffix.lower() == ".csv" and path.is_file():
            columns = pd.read_csv(path, nrows=0).columns
            label = args.label if args.label in columns else None
            frame = read_csv(path, args.text, label)
            known = label is not None and not (frame["label"].str.strip() == "").any()
        else:
            frame = pd.DataFrame({"text": read_text_files([path])})
            known = False
        if not len(frame):
            raise ValueError(f"No texts in --unlabelled {str(path)!r}.")
        return Unlabelled(frame, labelled=known)

    def inputs(self, task, unlabelled):
        return list(unlabelled.data["text"])

    def true_targets(self, task, unlabelled):
        from apps.text.data import encode_targets

        if not unlabelled.labelled or task.multi_label:
            return None
        try:
            return encode_targets(list(unlabelled.data["label"]), task.classes, False)
        except ValueError:  # a class unseen in the labelled texts
            return None

    def teacher_predict(self, task, args):
        return None

    def pseudo_transform(self, task, args):
        return None


ADAPTERS = {"image": ImageAdapter, "tabular": TabularAdapter, "text": TextAdapter}
