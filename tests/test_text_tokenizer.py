"""Text app: tokenization inside the model (round trips, special tokens, bad input, vocabulary)."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from apps.text.tokenizer import (  # noqa: E402
    BOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    TextTokenizer,
    learn_vocabulary,
    split_words,
)

CORPUS = ["The film is good, the acting is great!", "A bad film: boring and long.",
          "Good actors; great films.", "the the the film film good"] * 5


@pytest.fixture(scope="module")
def vocabulary():
    return learn_vocabulary(CORPUS, max_size=60, min_frequency=2)


def words_of(text):
    return [w.decode() for w in split_words(tf.constant([text]))[0].numpy()]


def test_vocabulary_starts_with_special_tokens_and_respects_the_cap(vocabulary):
    assert tuple(vocabulary[:3]) == SPECIAL_TOKENS
    assert len(vocabulary) <= 60 and len(set(vocabulary)) == len(vocabulary)
    assert {"film", "good", "the"} <= set(vocabulary)


def test_min_frequency_keeps_rare_words_out(vocabulary):
    rare = learn_vocabulary(CORPUS + ["zyzzyva"], max_size=60, min_frequency=2)
    assert "zyzzyva" not in rare


@pytest.mark.parametrize("text", ["The film is good, the acting is great!",
                                  "Good actors; great films.", "Café au lait, naïve!", ""])
def test_round_trip_gives_back_the_normalized_words(vocabulary, text):
    tokenizer = TextTokenizer(vocabulary)
    ids = tokenizer.tokenize([text])[0]
    assert ids[0] == BOS_ID
    known = set("".join(v.lstrip("#") for v in vocabulary[3:]))
    expected = [w if set(w) <= known else None for w in words_of(text)]
    decoded = tokenizer.decode(ids).split()
    assert len(decoded) == len(expected)
    for got, want in zip(decoded, expected):
        if want is not None:  # words made of known characters come back exactly
            assert got == want


def test_normalization_case_accents_and_punctuation():
    assert words_of("Café, NAÏVE!") == ["cafe", ",", "naive", "!"]
    assert words_of("don't") == ["don", "'", "t"]


def test_layer_pads_truncates_and_survives_bad_input(vocabulary):
    tokenizer = TextTokenizer(vocabulary, max_tokens=6)
    ids = tokenizer(tf.constant(["good film", "", "   ", b"bad \xff\xfe", "film " * 50_000]))
    ids = ids.numpy()
    assert ids.shape == (5, 6)
    assert ids[:, 0].tolist() == [BOS_ID] * 5
    assert ids[1].tolist() == [BOS_ID] + [PAD_ID] * 5 and ids[2].tolist() == ids[1].tolist()
    assert UNK_ID in ids[3].tolist()  # the invalid bytes became U+FFFD, unknown
    assert (ids[4] != PAD_ID).all()  # 50,000 words kept to the first 6 tokens


def test_vocabulary_must_start_with_the_special_tokens():
    with pytest.raises(ValueError, match=r"must start with"):
        TextTokenizer(["good", "[PAD]", "[UNK]", "[BOS]"])
    with pytest.raises(ValueError, match=r"max_tokens=1"):
        TextTokenizer(list(SPECIAL_TOKENS) + ["a"], max_tokens=1)
    with pytest.raises(ValueError, match=r"max_chars=0"):
        TextTokenizer(list(SPECIAL_TOKENS) + ["a"], max_chars=0)


def test_max_chars_cuts_texts_at_a_character_before_splitting():
    vocabulary = list(SPECIAL_TOKENS) + ["good", "film", "\u20ac", "!"]
    tokenizer = TextTokenizer(vocabulary, max_tokens=50, max_chars=6)
    good, film, euro, bang = 3, 4, 5, 6
    texts = ["good film", "!!!!!!!!!!", "\u20ac" * 7, b"good\xff film"]
    # "good f" ("f" alone is unknown); in characters (a 3-byte "\u20ac" counts once, a
    # cut never splits one), after the invalid byte became U+FFFD: "good\ufffd ".
    got = [ids.tolist() for ids in tokenizer.tokenize(texts)]
    assert got == [[BOS_ID, good, UNK_ID], [BOS_ID] + [bang] * 6, [BOS_ID] + [euro] * 6,
                   [BOS_ID, good, UNK_ID]]
    # Without a cut, every token is read (up to max_tokens).
    full = TextTokenizer(vocabulary, max_tokens=50).tokenize(texts)
    assert [ids.tolist() for ids in full][0] == [BOS_ID, good, film]
    assert TextTokenizer.from_config(tokenizer.get_config()).max_chars == 6


def test_the_classifier_cuts_a_huge_text_without_losing_the_tokens_it_reads():
    from apps.text.classifier_task import CHARS_PER_TOKEN, TextClassifierTask

    task = TextClassifierTask.create(list(SPECIAL_TOKENS) + ["good", "film", "!"], ["neg", "pos"],
                                     embedding_dim=4, hidden_units=4, layers=1, max_tokens=16)
    assert task.tokenizer.max_chars == CHARS_PER_TOKEN * 16
    assert task.inference_model.get_layer("tokenizer").max_chars == CHARS_PER_TOKEN * 16
    huge = "good film! " * 1_000_000  # 11 MB: over a gigabyte of split words without the cut
    short = "good film! " * 10
    ids = task.inference_model.get_layer("tokenizer")(tf.constant([huge, short])).numpy()
    np.testing.assert_array_equal(ids[0], ids[1])


def test_tokenizer_layer_saves_and_reloads_in_a_model(vocabulary, tmp_path):
    texts = keras.Input((), dtype="string")
    model = keras.Model(texts, TextTokenizer(vocabulary, max_tokens=8)(texts))
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    sample = tf.constant(["the good film", "great acting!"])
    np.testing.assert_array_equal(reloaded(sample), model(sample))


def test_training_and_serving_paths_give_the_same_ids(vocabulary):
    """`tokenize` (Python lists, training) and the layer call (serving) agree token for token."""
    from apps.text.batching import pad

    texts = ["The film is good, the acting is great!", "", "  ", "Boring films; GOOD.",
             "good " * 20]
    tokenizer = TextTokenizer(vocabulary, max_tokens=12)
    ids = tokenizer.tokenize(texts)
    assert max(len(i) for i in ids) == 12  # the long text is cut like in the layer
    np.testing.assert_array_equal(tokenizer(tf.constant(texts)).numpy(), pad(ids))
    assert tokenizer.decode(ids[3]) == "boring films ; good ."


def _zipf_counts(size=600, seed=0):
    rng = np.random.RandomState(seed)
    letters = np.array(list("abcdefghijklmnop"))
    words = {"".join(rng.choice(letters, rng.randint(3, 9))) for _ in range(size)}
    return {w: int(5000 / (rank + 1)) + 1 for rank, w in enumerate(sorted(words))}


def test_learn_wordpiece_matches_the_library_rule_with_fewer_passes(monkeypatch):
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as lib

    from apps.text.tokenizer import learn_wordpiece

    counts, cap, calls = _zipf_counts(), 250, []
    real = lib.learn_with_thresh
    monkeypatch.setattr(lib, "learn_with_thresh",
                        lambda words, thresh, params: calls.append(thresh) or real(words, thresh, params))
    ours = learn_wordpiece(counts, cap, list(SPECIAL_TOKENS))
    ours_calls, calls[:] = len(calls), []
    theirs = lib.learn(counts, cap, list(SPECIAL_TOKENS), lower_thresh=1)
    # Both satisfy the library's acceptance rule; ours needs fewer learning passes.
    for vocabulary in (ours, theirs):
        assert 0.95 * cap <= len(vocabulary) <= cap, len(vocabulary)
    assert ours_calls < len(calls), (ours_calls, calls)


def test_learn_wordpiece_takes_the_lowest_threshold_when_it_fits():
    from tensorflow_text.tools.wordpiece_vocab import wordpiece_tokenizer_learner_lib as lib

    from apps.text.tokenizer import learn_wordpiece

    counts = {"good": 3, "film": 2, "bad": 2}
    ours = learn_wordpiece(counts, 1000, list(SPECIAL_TOKENS))
    assert ours == lib.learn(counts, 1000, list(SPECIAL_TOKENS), lower_thresh=1)
    assert {"good", "film", "bad"} <= set(ours)
