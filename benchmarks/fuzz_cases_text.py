"""Fuzz cases of the text classifier's `serving_default(texts: string[N])`.

The fuzzed export is a tiny classifier trained from scratch (no
pretraining), single-label or multi-label. Texts mix vocabulary words,
punctuation, accents, emoji, control characters, NUL bytes, invalid UTF-8,
bracketed special-token names, words over WordPiece's length limit and
long texts; "huge" texts of 2-12 MB test the memory bound (texts are cut
to `CHARS_PER_TOKEN * max_tokens` characters before splitting).

A valid answer equals the in-memory raw-input Keras model
(`inference_model`) on the same tensor within 1e-4, and is well formed:
finite probabilities in [0, 1] (summing to 1 for single-label), the label
is the most probable class (multi-label: `predicted` is `p >= 0.5`), the
class names in every row. A huge text that is words all the way must also
get the answer of its first 100 KB (the cut keeps every token the model
reads).
"""
import numpy as np

from benchmarks.fuzz_cases_image import SHAPE_ERRORS
from benchmarks.fuzz_serving import Case, Signature

VOCABULARY = ["[PAD]", "[UNK]", "[BOS]", "good", "bad", "film", "plot", "great", "dull", "a",
              "!", "##s", "caf", "##e", "\u4e2d"]
CLASSES = ["neg", "pos", "mixed"]
MAX_TOKENS = 64
PIECES = ["good", "bad", "film", "films", "plot", "great", "dull", "a", "!", "Café", "NAÏVE",
          "[BOS]", "[PAD]", "[UNK]", "##s", "\u4e2d\u6587", "\U0001f600", "\u200b", "\u202e",
          "e\u0301", "\x00", "\x07", "\t", "\r\n", "x" * 150, "1e9", "-0", "nan", "<br />",
          "\ufeff", "\ud7ff", "\U0010ffff", "...", "''"]
SEPARATORS = [" ", "", "  ", "\n", ",", "\u3000", "\xa0"]
INVALID_UTF8 = [b"\xff", b"\xfe\xfe", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80",
                b"\xe2\x82"]


def _choice(rng, options):
    return options[int(rng.integers(len(options)))]


def random_text(rng):
    """A text of 0-60 pieces (words, symbols, control characters, invalid UTF-8) as bytes."""
    parts = []
    for _ in range(int(rng.integers(0, 61))):
        if rng.random() < 0.08:
            parts.append(_choice(rng, INVALID_UTF8))
        else:
            parts.append(_choice(rng, PIECES).encode("utf-8", "surrogatepass"))
        parts.append(_choice(rng, SEPARATORS).encode())
    text = b"".join(parts)
    if rng.random() < 0.05:
        text = text * int(rng.integers(100, 2000))  # long: up to about a megabyte
    return text


def huge_text(rng):
    """A 2-12 MB text: words, one character repeated, or punctuation (the costliest to split)."""
    size = int(rng.integers(2, 13)) * 2 ** 20
    style = _choice(rng, ["words", "letter", "punctuation", "spaces then words"])
    if style == "words":
        return style, (b"good film! " * (size // 11 + 1))[:size]
    if style == "letter":
        return style, b"a" * size
    if style == "punctuation":
        return style, b"!" * size
    return style, b" " * size + b"great plot"


class TextServe(Signature):
    """`serving_default(texts: string[N])` of a tiny classifier (multi-label when asked)."""

    app = "text"
    signature = "serving_default"
    serving_imports = ("tensorflow_text",)

    def __init__(self, multi_label=False):
        self.multi_label, self.task = multi_label, None
        if multi_label:
            self.app = "text_multi_label"

    def export(self, root):
        import keras

        from apps.text.classifier_task import TextClassifierTask

        keras.utils.set_random_seed(0)
        self.task = TextClassifierTask.create(
            VOCABULARY, CLASSES, multi_label=self.multi_label, embedding_dim=6,
            hidden_units=8, layers=2, batch_size=4, max_tokens=MAX_TOKENS)
        texts = ["good film", "great plot", "bad film", "dull plot", "good but dull"] * 4
        labels = [["pos"], ["pos"], ["neg"], ["neg"], ["mixed", "pos"]] * 4
        targets = labels if self.multi_label else [row[0] for row in labels]
        self.task.train((texts, targets), epochs=1, lr_max=1e-2, verbose=0)
        return self.task.export("fuzz", root=root)

    def cases(self, rng, n):
        kinds = ["valid"] * 55 + ["empty"] * 4 + ["huge"] * 2 + ["dtype"] * 18 + \
            ["rank"] * 12 + ["missing"] * 4 + ["extra"] * 5
        return [self._case(str(rng.choice(kinds)), rng) for _ in range(n)]

    def _case(self, kind, rng):
        texts = np.array([random_text(rng) for _ in range(int(rng.integers(1, 9)))],
                         dtype=object)
        if kind == "valid":
            return Case(kind, {"texts": texts}, "valid")
        if kind == "empty":
            return Case(kind, {"texts": np.array([], dtype=object)}, "valid")
        if kind == "huge":
            style, text = huge_text(rng)
            texts[int(rng.integers(len(texts)))] = text
            return Case(f"huge {style}", {"texts": texts}, "valid")
        if kind == "dtype":
            dtype = _choice(rng, ["int32", "int64", "float32", "float64", "bool", "uint8"])
            values = rng.integers(0, 9, len(texts)).astype(dtype)
            return Case(kind, {"texts": values}, "refuse", ("expected to be a string tensor",))
        if kind == "rank":
            shaped = [texts[0], texts[:, None], texts[None, :], texts[:, None, None]]
            values = np.array(_choice(rng, shaped), dtype=object)
            if values.ndim == 2 and values.shape[0] == values.shape[1] == 1 and rng.random() < .5:
                values = values.reshape(())  # a scalar string
            return Case(kind, {"texts": values}, "refuse", SHAPE_ERRORS)
        if kind == "missing":
            return Case(kind, {}, "refuse", ("missing required arguments: texts",))
        return Case(kind, {"texts": texts, "text": texts}, "refuse",
                    ("unexpected keyword arguments: text",))

    def wrong_answer(self, case, outputs):
        texts = list(case.inputs["texts"])
        probabilities = np.asarray(outputs["probabilities"], np.float64).reshape(-1, len(CLASSES))
        if probabilities.shape[0] != len(texts) or len(outputs["classes"]) != len(texts):
            return f"{probabilities.shape} probabilities for {len(texts)} texts"
        if any(list(row) != CLASSES for row in outputs["classes"]):
            return f"class names {outputs['classes'][:1]}"
        if not (np.isfinite(probabilities).all() and (probabilities >= 0).all()
                and (probabilities <= 1).all()):
            return f"probabilities {probabilities.tolist()[:2]}"
        why = self._wrong_decision(outputs, probabilities)
        if why or not texts:
            return why
        want = self._in_memory(texts)
        if not np.allclose(probabilities, want, atol=1e-4):
            return f"probabilities {probabilities.tolist()} but in memory {want.tolist()}"
        if case.kind == "huge words":
            cut = self._in_memory([t[:100_000] for t in texts])
            if not np.allclose(probabilities, cut, atol=1e-4):
                return f"a huge text answered {probabilities.tolist()}, its start {cut.tolist()}"
        return None

    def _wrong_decision(self, outputs, probabilities):
        """Why `label` / `predicted` disagree with the probabilities, or None."""
        if self.multi_label:
            predicted = np.asarray(outputs["predicted"], bool).reshape(probabilities.shape)
            if (predicted != (probabilities >= 0.5)).any():
                return f"predicted {predicted.tolist()} for {probabilities.tolist()}"
            return None
        if len(probabilities) and not np.allclose(probabilities.sum(axis=1), 1, atol=1e-5):
            return f"probabilities {probabilities.tolist()[:2]} do not sum to 1"
        if outputs["label"] != [CLASSES[i] for i in probabilities.argmax(axis=1)]:
            return f"labels {outputs['label']} for probabilities {probabilities.tolist()}"
        return None

    def _in_memory(self, texts):
        import tensorflow as tf

        model = self.task.inference_model
        return model(tf.constant(texts, tf.string, shape=[len(texts)]), training=False).numpy()
