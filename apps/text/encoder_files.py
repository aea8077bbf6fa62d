"""A pretrained encoder on disk: vocabulary, configuration and weights in one folder.

    <folder>/encoder.json         format, vocabulary, encoder configuration, notes
    <folder>/encoder.weights.npz  the embedding and LSTM weights, and the decoder bias

`python -m apps.text pretrain` writes the general language model's encoder
to `$DLKERAS_CACHE_DIR/text/general_lm` (`default_encoder_dir()`); a user's
own encoder is any folder in this format (`LanguageModelTask.save_encoder`
writes one after fine-tuning), passed to `load_encoder`.

Example:

>>> import tempfile
>>> load_encoder(tempfile.mkdtemp())
Traceback (most recent call last):
...
FileNotFoundError: ... holds no pretrained encoder (encoder.json): run `python -m apps.text pretrain`, or pass a folder written by `LanguageModelTask.save_encoder`.
"""

__all__ = ["PretrainedEncoder", "load_encoder", "save_encoder", "default_encoder_dir"]

import dataclasses
import os
import pathlib

import numpy as np

from apps.text.datasets import text_cache_dir
from dlkeras.folders import read_folder_description, write_described_folder

FORMAT = 1
DESCRIPTION_FILE, WEIGHTS_FILE = "encoder.json", "encoder.weights.npz"
OUTPUT_BIAS_KEY = "output_bias/bias"


@dataclasses.dataclass
class PretrainedEncoder:
    """What a language model passes on: its tokens, architecture and weights.

    Attributes:
        vocabulary: the token list (`TextTokenizer`'s).
        config: `apps.text.network.encoder_config(...)`.
        weights: `{"layer/variable": array}` (`apps.text.network.encoder_weights`).
        output_bias: the decoder bias `(vocabulary_size,)`, or None.
        notes: JSON-able facts about its training (corpus, tokens, perplexity).
    """

    vocabulary: list
    config: dict
    weights: dict
    output_bias: np.ndarray = None
    notes: dict = dataclasses.field(default_factory=dict)


def default_encoder_dir():
    """Where `pretrain` caches the general language model's encoder."""
    return text_cache_dir() / "general_lm"


def save_encoder(encoder, folder):
    """Writes `encoder` (a `PretrainedEncoder`) into `folder`; returns the folder."""
    arrays = dict(encoder.weights)
    if encoder.output_bias is not None:
        arrays[OUTPUT_BIAS_KEY] = np.asarray(encoder.output_bias)
    description = {"format": FORMAT, "config": encoder.config, "notes": encoder.notes,
                   "vocabulary": list(encoder.vocabulary)}

    def write_weights(folder):
        partial = folder / (WEIGHTS_FILE + ".partial.npz")
        np.savez(partial, **{key.replace("/", "|"): value for key, value in arrays.items()})
        os.replace(partial, folder / WEIGHTS_FILE)

    return write_described_folder(folder, DESCRIPTION_FILE, description, write_weights)


def load_encoder(folder):
    """The `PretrainedEncoder` saved in `folder` (see `save_encoder`)."""
    folder = pathlib.Path(folder)
    description = read_folder_description(
        folder, DESCRIPTION_FILE, WEIGHTS_FILE, kind="encoder", version=FORMAT,
        missing=f"holds no pretrained encoder ({DESCRIPTION_FILE}): run `python -m apps.text "
                "pretrain`, or pass a folder written by `LanguageModelTask.save_encoder`.")
    with np.load(folder / WEIGHTS_FILE) as archive:
        arrays = {key.replace("|", "/"): archive[key] for key in archive.files}
    bias = arrays.pop(OUTPUT_BIAS_KEY, None)
    return PretrainedEncoder(description["vocabulary"], description["config"], arrays, bias,
                             description.get("notes", {}))
