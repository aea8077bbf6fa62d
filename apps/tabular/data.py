"""Running the preprocessing half of a tabular model over a whole DataFrame.

The preprocessor runs once over each frame, column-wise and in chunks (no
per-row Python); the resulting int/float matrices are what the network
trains on, batched by `dlkeras.data.index_batched_dataset`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from apps.tabular.frames import raw_inputs
from apps.tabular.roles import ColumnRoles

PREPROCESS_CHUNK_ROWS = 65536


def preprocess_frame(preprocessor, df: pd.DataFrame, roles: ColumnRoles) -> dict:
    """Runs the preprocessor eagerly over a frame, in chunks; returns numpy arrays.

    Example:

    >>> from apps.tabular.preprocessor import build_preprocessor, fit_preprocessing
    >>> roles = ColumnRoles(["c"], ["x"], ["y"], "binary", ["0", "1"])
    >>> df = pd.DataFrame({"c": ["a", "b"], "x": [1.0, None]})
    >>> features = preprocess_frame(build_preprocessor(roles, fit_preprocessing(df, roles)), df, roles)
    >>> features["categorical"].tolist(), features["continuous"].shape
    ([[2], [3]], (2, 2))
    """
    raw = raw_inputs(df, roles)
    chunks = []
    for start in range(0, max(len(df), 1), PREPROCESS_CHUNK_ROWS):
        part = {name: values[start:start + PREPROCESS_CHUNK_ROWS] for name, values in raw.items()}
        chunks.append({k: np.asarray(v) for k, v in preprocessor(part).items()})
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
