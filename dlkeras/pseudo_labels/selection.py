"""Which teacher predictions become pseudo-labels: a threshold and/or a top fraction per class.

A threshold alone keeps every prediction at least that confident; on an
imbalanced set, or with a teacher biased to one class, that class then
swallows most of the pseudo-labels. `top_fraction` with `class_balanced=True`
gives every class the same quota, `floor(top_fraction * N / C)` of the `N`
unlabelled examples, filled with that class' most confident predictions;
a class the teacher rarely predicts keeps fewer. Ties in confidence go to
the earlier example, so a selection is a pure function of the probabilities.

Example:


>>> import numpy as np
>>> probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6], [0.45, 0.55]])
>>> select_pseudo_labels(probabilities, threshold=0.75).indices.tolist()
[0, 1]
>>> chosen = select_pseudo_labels(probabilities, top_fraction=0.4)
>>> chosen.indices.tolist(), chosen.classes.tolist()
([0, 3], [0, 1])
"""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass
class Selection:
    """The chosen unlabelled examples.

    Attributes:
        indices: positions in the unlabelled set, ascending.
        classes: the predicted class of each chosen example.
        confidence: the teacher's probability of that class.
        probabilities: the teacher's class probabilities `(len(indices), C)`.
    """

    indices: np.ndarray
    classes: np.ndarray
    confidence: np.ndarray
    probabilities: np.ndarray

    def __len__(self):
        return len(self.indices)

    def class_counts(self):
        """Pseudo-labels per class, a list of `C` ints."""
        return np.bincount(self.classes, minlength=self.probabilities.shape[1]).tolist()

    def accuracy(self, true_classes):
        """Share of pseudo-labels equal to the true class; `true_classes` covers the whole
        unlabelled set. None when nothing was selected."""
        if not len(self):
            return None
        return float(np.mean(np.asarray(true_classes)[self.indices] == self.classes))


def _check(probabilities, threshold, top_fraction):
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise ValueError("`probabilities` must have shape (N, C) with C >= 2. Received: "
                         f"shape={probabilities.shape}")
    if not np.isfinite(probabilities).all():
        raise ValueError("`probabilities` hold NaN or infinite values: the teacher diverged.")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise ValueError(f"`threshold` must be in [0, 1]. Received: threshold={threshold!r}")
    if top_fraction is not None and not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"`top_fraction` must be in (0, 1]. Received: "
                         f"top_fraction={top_fraction!r}")
    return probabilities


def _most_confident(candidates, confidence, quota):
    """The `quota` most confident of `candidates` (earlier index first on ties)."""
    order = np.argsort(-confidence[candidates], kind="stable")
    return candidates[order[:quota]]


def select_pseudo_labels(probabilities, threshold=None, top_fraction=None, class_balanced=True):
    """Chooses the unlabelled examples to pseudo-label from the teacher's probabilities.

    Args:
        probabilities: `(N, C)` class probabilities of the teacher.
        threshold: keep predictions whose top probability is at least this
            (None: no threshold).
        top_fraction: keep at most this share of the `N` examples, the most
            confident first (None: no cap). With `class_balanced`, each class
            gets `floor(top_fraction * N / C)` of them.
        class_balanced: cap every class at the same quota (only with
            `top_fraction`); False ranks all classes together.

    Returns:
        A `Selection`. Both criteria apply when both are given; with neither,
        every example is kept.
    """
    probabilities = _check(probabilities, threshold, top_fraction)
    count, num_classes = probabilities.shape
    classes = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    keep = np.ones(count, bool) if threshold is None else confidence >= threshold
    if top_fraction is not None:
        candidates = np.flatnonzero(keep)
        if class_balanced:
            quota = math.floor(top_fraction * count / num_classes + 1e-9)
            parts = [_most_confident(candidates[classes[candidates] == c], confidence, quota)
                     for c in range(num_classes)]
            chosen = np.concatenate(parts)
        else:
            chosen = _most_confident(candidates, confidence,
                                     math.floor(top_fraction * count + 1e-9))
        keep = np.zeros(count, bool)
        keep[chosen] = True
    indices = np.flatnonzero(keep)
    return Selection(indices=indices, classes=classes[indices].astype(np.int64),
                     confidence=confidence[indices], probabilities=probabilities[indices])
