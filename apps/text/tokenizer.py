"""Subword tokenization inside the model: a WordPiece vocabulary learnt with tensorflow-text.

One function splits text into words, for learning the vocabulary and for
tokenizing: invalid UTF-8 is replaced by U+FFFD (never an error), text is
case-folded, accents are stripped (NFD, then marks removed), control
characters become spaces, and words are split at white space and at every
punctuation or symbol character (kept as a word of its own). Words are then
cut into WordPiece subwords (`tensorflow_text.FastWordpieceTokenizer`);
the vocabulary is learnt by `tensorflow_text.tools.wordpiece_vocab` from
the words seen at least `min_frequency` times.

Special tokens (fastai's roles, BERT-style names that no text can produce,
since `[` and `]` are split off as punctuation): `[PAD]` = 0 (padding),
`[UNK]` = 1 (unknown), `[BOS]` = 2 (beginning of every text). No
capitalisation or repetition markers: the bulk of the general corpus (20
Newsgroups, Reuters) comes lower-cased and without digits.

Example:

>>> import tensorflow as tf
>>> tokenizer = TextTokenizer(["[PAD]", "[UNK]", "[BOS]", "good", "film", "!", "##s"])
>>> tokenizer(tf.constant(["Good films!", ""])).numpy().tolist()
[[2, 3, 4, 6, 5], [2, 0, 0, 0, 0]]
>>> tokenizer.decode([2, 3, 4, 6, 5])
'good films !'
"""

__all__ = ["TextTokenizer", "learn_vocabulary"]

import collections

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as wordpiece

PAD, UNK, BOS = "[PAD]", "[UNK]", "[BOS]"
SPECIAL_TOKENS = (PAD, UNK, BOS)
PAD_ID, UNK_ID, BOS_ID = 0, 1, 2
_SEPARATORS = r"\s+|[\p{P}\p{S}]"
_KEPT_SEPARATORS = r"[\p{P}\p{S}]"


def split_words(texts):
    """A string tensor `(N,)` to a ragged tensor of normalized words `(N, None)`.

    Example:

    >>> split_words(["Café, naïve!"]).to_list()
    [[b'cafe', b',', b'naive', b'!']]
    """
    texts = _valid_utf8(texts)
    texts = tf_text.normalize_utf8(tf_text.case_fold_utf8(texts), "NFD")
    texts = tf.strings.regex_replace(texts, r"\p{Mn}", "")
    texts = tf.strings.regex_replace(texts, r"\p{Cc}|\p{Cf}", " ")
    return tf_text.regex_split(texts, _SEPARATORS, _KEPT_SEPARATORS)


def _valid_utf8(texts):
    """Invalid UTF-8 sequences replaced by U+FFFD."""
    return tf.strings.unicode_transcode(texts, "UTF-8", "UTF-8", errors="replace",
                                        replacement_char=0xFFFD)


def count_words(texts, batch_size=2048):
    """`Counter` of normalized words over an iterable of strings."""
    counts = collections.Counter()
    batch = []
    for text in texts:
        batch.append(text)
        if len(batch) == batch_size:
            counts.update(split_words(tf.constant(batch)).flat_values.numpy())
            batch = []
    if batch:
        counts.update(split_words(tf.constant(batch)).flat_values.numpy())
    return counts


def learn_vocabulary(texts, max_size=12000, min_frequency=3):
    """A WordPiece vocabulary (special tokens first) learnt from `texts`.

    Args:
        texts: iterable of strings.
        max_size: the vocabulary cap, special tokens included.
        min_frequency: words seen fewer times do not take part in learning
            (their characters may still be in the vocabulary).

    Returns:
        A list of tokens: `[PAD]`, `[UNK]`, `[BOS]`, then the learnt ones.
    """
    if not isinstance(max_size, int) or max_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"`max_size` must be an integer > {len(SPECIAL_TOKENS)}. "
                         f"Received: max_size={max_size!r}")
    counts = {word.decode("utf-8"): n for word, n in count_words(texts).items()
              if n >= min_frequency}
    if not counts:
        raise ValueError(f"No word occurs at least min_frequency={min_frequency} times in the "
                         "texts: give more text or lower min_frequency.")
    vocabulary = learn_wordpiece(counts, max_size, list(SPECIAL_TOKENS))
    return list(SPECIAL_TOKENS) + [t for t in vocabulary if t not in SPECIAL_TOKENS]


def learn_wordpiece(counts, max_size, reserved_tokens, slack=0.05):
    """tensorflow-text's WordPiece learner with a geometric search for its count threshold.

    `wordpiece_vocab.learn` bisects the threshold (a subword is kept if it
    occurs at least that often) linearly between 1 and the largest word
    count, one full learning pass per probe: about 18 passes on the
    general corpus. The vocabulary size falls roughly as a power of the
    threshold, so this bisects its logarithm instead, and stops at once if
    the lowest threshold already fits (a small corpus). Same learner, same
    acceptance rule (a size in `[(1 - slack) * max_size, max_size]`).

    Args:
        counts: `{word: count}`.
        max_size: the vocabulary cap (reserved tokens included).
        reserved_tokens: tokens put first.
        slack: accepted shortfall below `max_size`, as a fraction.

    Returns:
        A list of tokens.
    """
    params = wordpiece.Params(upper_thresh=None, lower_thresh=1, num_iterations=4,
                              max_input_tokens=int(5e6), max_token_length=50,
                              max_unique_chars=1000, vocab_size=max_size, slack_ratio=slack,
                              include_joiner_token=True, joiner="##",
                              reserved_tokens=reserved_tokens)
    words = wordpiece.get_input_words(list(counts.items()), reserved_tokens, 50)
    words = wordpiece.filter_input_words(words, wordpiece.get_allowed_chars(words, 1000),
                                         params.max_input_tokens)
    # As `learn` does: from the smallest word count up to past the largest.
    low, high = min(n for _, n in words), max(n for _, n in words) + 1
    best = wordpiece.learn_with_thresh(words, low, params)
    if len(best) <= max_size:
        return best
    best = None
    while high - low > 1:
        middle = min(max(int(round((low * high) ** 0.5)), low + 1), high - 1)
        vocabulary = wordpiece.learn_with_thresh(words, middle, params)
        if len(vocabulary) > max_size:
            low = middle
        else:
            high, best = middle, vocabulary
            if len(vocabulary) >= (1 - slack) * max_size:
                break
    if best is None:
        best = wordpiece.learn_with_thresh(words, high, params)
    return best


@keras.saving.register_keras_serializable(package="dlkeras")
class TextTokenizer(keras.layers.Layer):
    """Raw strings to padded token ids, `[BOS]` first, inside the model.

    Args:
        vocabulary: the token list (`learn_vocabulary`); must start with
            `[PAD]`, `[UNK]`, `[BOS]`.
        max_tokens: longest output per text, `[BOS]` included; longer texts
            keep their first tokens.
        max_chars: texts are cut to their first `max_chars` characters
            (after invalid UTF-8 is replaced) before they are split, or None
            for no cut. Splitting holds about 120 bytes per character of
            punctuation, so without a cut a 10 MB string costs over 1 GB;
            `TextClassifierTask` cuts at `CHARS_PER_TOKEN * max_tokens`.
    """

    def __init__(self, vocabulary, max_tokens=512, max_chars=None, **kwargs):
        super().__init__(**kwargs)
        vocabulary = [str(t) for t in vocabulary]
        if tuple(vocabulary[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(f"A vocabulary must start with {list(SPECIAL_TOKENS)}. "
                             f"Received: vocabulary[:3]={vocabulary[:3]!r}")
        if not isinstance(max_tokens, int) or max_tokens < 2:
            raise ValueError(f"`max_tokens` must be an integer >= 2. Received: "
                             f"max_tokens={max_tokens!r}")
        if max_chars is not None and (not isinstance(max_chars, int) or max_chars < 1):
            raise ValueError(f"`max_chars` must be None or an integer >= 1. Received: "
                             f"max_chars={max_chars!r}")
        self.vocabulary, self.max_tokens, self.max_chars = vocabulary, max_tokens, max_chars
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            vocabulary, token_out_type=tf.int32, unknown_token=UNK, no_pretokenization=True)

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def ragged(self, texts):
        """Token ids `(N, None)` as a ragged tensor, `[BOS]` first, at most `max_tokens`."""
        texts = tf.convert_to_tensor(texts, tf.string)
        if texts.shape.rank == 2:
            texts = tf.squeeze(texts, axis=1)
        if self.max_chars is not None:
            texts = tf.strings.substr(_valid_utf8(texts), 0, self.max_chars, unit="UTF8_CHAR")
        ids = self._wordpiece.tokenize(split_words(texts)).merge_dims(1, 2)
        bos = tf.fill([ids.nrows(), 1], tf.constant(BOS_ID, tf.int32))
        return tf.concat([bos, ids], axis=1)[:, :self.max_tokens]

    def call(self, texts):
        # [BOS] as a dense first column: at least one time step even for an empty batch.
        rest = self.ragged(texts)[:, 1:].to_tensor(default_value=PAD_ID)
        bos = tf.fill([tf.shape(rest)[0], 1], tf.constant(BOS_ID, tf.int32))
        return tf.concat([bos, rest], axis=1)

    def tokenize(self, texts, batch_size=4096):
        """Token id arrays (one per text, `[BOS]` first) for a list of Python strings."""
        texts = [t if isinstance(t, (str, bytes)) else str(t) for t in texts]
        result = []
        for start in range(0, len(texts), batch_size):
            ragged = self.ragged(tf.constant(texts[start:start + batch_size], tf.string))
            values, splits = ragged.flat_values.numpy(), ragged.row_splits.numpy()
            result += np.split(values, splits[1:-1])
        return result

    def pieces(self, ids):
        """The subword strings of some ids."""
        return [self.vocabulary[int(i)] for i in ids]

    def decode(self, ids):
        """Ids back to text (subwords joined, special tokens except `[UNK]` dropped)."""
        words = []
        for piece in self.pieces(ids):
            if piece in (PAD, BOS):
                continue
            if piece.startswith("##") and words:
                words[-1] += piece[2:]
            else:
                words.append(piece)
        return " ".join(words)

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.vocabulary,
                "max_tokens": self.max_tokens, "max_chars": self.max_chars}
