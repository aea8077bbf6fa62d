"""ULMFiT end to end: general encoder -> language model fine-tuned on the target -> classifier.

`fine_tune_language_model` is stage 2 (or, without an encoder, a language
model trained on the target texts only); `build_classifier_task` is the
start of stage 3 (`TextClassifierTask.train` runs the gradual unfreezing).
The command line, the demo and the benchmark all go through these two.

Example:

>>> texts = ["a good film", "a bad film", "good", "bad"] * 20
>>> lm = fine_tune_language_model(None, texts, epochs=1, vocabulary_size=20, batch_size=4,
...                               bptt=4, embedding_dim=8, hidden_units=8, layers=2, verbose=0)
>>> task = build_classifier_task(lm.encoder(), ["bad", "good"], batch_size=4)
>>> task.metadata["pretrained"]
True
"""

__all__ = ["fine_tune_language_model", "build_classifier_task"]

import time

from apps.text.classifier_task import TextClassifierTask
from apps.text.lm_task import LanguageModelTask
from apps.text.tokenizer import learn_vocabulary

LM_DEFAULTS = {"epochs": 4, "lr_max": 2e-2, "batch_size": 32, "bptt": 70, "drop_mult": 0.3}


def fine_tune_language_model(encoder, texts, *, epochs=LM_DEFAULTS["epochs"],
                             lr_max=LM_DEFAULTS["lr_max"], batch_size=LM_DEFAULTS["batch_size"],
                             bptt=LM_DEFAULTS["bptt"], drop_mult=LM_DEFAULTS["drop_mult"],
                             valid_texts=None, vocabulary_size=12000, min_frequency=2,
                             embedding_dim=256, hidden_units=512, layers=3, seed=None,
                             verbose=1, log_dir=None, callbacks=None):
    """A language model trained on `texts`, from `encoder` (ULMFiT stage 2) or from scratch.

    Args:
        encoder: a `PretrainedEncoder`, or None to learn a vocabulary from
            `texts` and start from random weights.
        texts: the target corpus (labelled and unlabelled texts).
        epochs, lr_max, batch_size, bptt, drop_mult: the recipe
            (`LanguageModelTask.train`: 1 epoch decoder-only, then all layers
            at `lr_max / 10` spread by 2.6 per group).
        valid_texts: texts for the validation perplexity, or None.
        vocabulary_size, min_frequency, embedding_dim, hidden_units, layers:
            the vocabulary and architecture without an encoder.
        seed: shuffle seed.
        verbose, log_dir, callbacks: Keras progress, TensorBoard folder, more callbacks.

    Returns:
        The trained `LanguageModelTask` (`.encoder()` passes it on).
    """
    vocabulary = None if encoder is not None else learn_vocabulary(texts, vocabulary_size,
                                                                   min_frequency)
    task = LanguageModelTask.create(vocabulary, encoder=encoder, embedding_dim=embedding_dim,
                                    hidden_units=hidden_units, layers=layers,
                                    batch_size=batch_size, bptt=bptt, drop_mult=drop_mult,
                                    name="target_lm")
    start = time.perf_counter()
    task.train(list(texts), epochs=epochs, lr_max=lr_max,
               validation_data=list(valid_texts) if valid_texts else None, seed=seed,
               verbose=verbose, log_dir=log_dir, callbacks=callbacks)
    task.metadata["notes"] = {**task.metadata.get("notes", {}),
                              "fine_tune_s": round(time.perf_counter() - start, 1)}
    return task


def build_classifier_task(encoder, classes, *, vocabulary_texts=None, **create_kwargs):
    """A compiled `TextClassifierTask` on `encoder`, or from scratch with a vocabulary of `vocabulary_texts`.

    Args:
        encoder: a `PretrainedEncoder` or None.
        classes: class names.
        vocabulary_texts: texts to learn the vocabulary from when `encoder` is None.
        **create_kwargs: `TextClassifierTask.create` arguments.
    """
    if encoder is not None:
        return TextClassifierTask.create(classes=classes, encoder=encoder, **create_kwargs)
    if vocabulary_texts is None:
        raise ValueError("From scratch, the classifier needs `vocabulary_texts` to learn its "
                         "vocabulary from.")
    vocabulary = learn_vocabulary(vocabulary_texts, create_kwargs.pop("vocabulary_size", 12000),
                                  create_kwargs.pop("min_frequency", 2))
    return TextClassifierTask.create(vocabulary, classes, **create_kwargs)
