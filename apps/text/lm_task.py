"""`LanguageModelTask`: the AWD-LSTM language model, trained on BPTT streams of any texts.

Pretraining (`pretrained=False`) is one-cycle over every layer. Fine-tuning
a pretrained encoder on a target corpus (`pretrained=True`) is ULMFiT's
stage 2: one epoch with only the tied embedding/decoder training (the new
corpus' words settle first), then every layer with rates spread by 2.6 per
layer group, a tenth of the first stage's peak. Momentum cycles
0.8 -> 0.7 -> 0.8 (fastai's text default).

Example:

>>> vocabulary = ["[PAD]", "[UNK]", "[BOS]", "a", "b", "c"]
>>> task = LanguageModelTask.create(vocabulary, embedding_dim=8, hidden_units=8, layers=2,
...                                 batch_size=2, bptt=4)
>>> _ = task.fit_one_cycle(["a b c a b c a b"] * 4, epochs=1, lr_max=1e-2, verbose=0)
>>> sorted(task.evaluate(["a b c a b c a b"] * 2))
['accuracy', 'loss', 'perplexity']
"""

__all__ = ["LanguageModelTask"]

import keras
import numpy as np
import tensorflow as tf

from apps.text.data import texts_of
from apps.text.encoder_files import PretrainedEncoder, save_encoder
from apps.text.metrics import Perplexity
from apps.text.network import (
    build_language_model,
    encoder_config,
    encoder_weights,
    lm_layer_groups,
    set_encoder_weights,
)
from apps.text.streams import TokenStreams
from apps.text.tokenizer import TextTokenizer
from dlkeras.freezing import freeze, unfreeze
from dlkeras.tasks import FASTAI_ADAM, Task

TEXT_MOMS = (0.8, 0.7, 0.8)
GROUP_FACTOR = 2.6  # ULMFiT: each layer group learns 2.6 times slower than the next
_NO_TRUNCATION = 2**31 - 1


def encoder_start(vocabulary, encoder, embedding_dim, hidden_units, layers, matmul_dtype):
    """`(vocabulary, encoder config)` a text task starts from: the pretrained `encoder`'s, or
    a new architecture (`encoder_config`) for `vocabulary` when `encoder` is None."""
    if encoder is not None:
        return encoder.vocabulary, encoder.config
    if vocabulary is None:
        raise ValueError("Give a `vocabulary` (learn_vocabulary) or a pretrained `encoder`.")
    return vocabulary, encoder_config(len(vocabulary), embedding_dim, hidden_units, layers,
                                      matmul_dtype)


def text_metadata(name, vocabulary, config, encoder, batch_size, drop_mult, weight_decay,
                  text_column, **more):
    """The metadata both text tasks keep (see their docstrings), plus `more`."""
    return {"name": name, "vocabulary": list(vocabulary), "encoder": config,
            "pretrained": encoder is not None, "batch_size": int(batch_size),
            "drop_mult": float(drop_mult), "weight_decay": float(weight_decay),
            "text_column": text_column, **more}


class LanguageModelTask(Task):
    """Next-token prediction with a stateful AWD-LSTM over parallel token streams.

    Metadata: `vocabulary`, `encoder` (`encoder_config`), `bptt`,
    `drop_mult`, `pretrained`, `batch_size` (parallel streams), `name`,
    `text_column`, `notes`.
    """

    default_lr_max = 2e-3
    adam_options = FASTAI_ADAM

    def __init__(self, network, layer_groups=None, metadata=None):
        super().__init__(network, layer_groups or lm_layer_groups(network), metadata)
        self.tokenizer = TextTokenizer(self.metadata["vocabulary"], max_tokens=_NO_TRUNCATION)
        self._tokenized = []  # (texts object, token arrays) of recently used data

    @classmethod
    def create(cls, vocabulary=None, *, encoder=None, embedding_dim=256, hidden_units=512,
               layers=3, matmul_dtype="bfloat16", batch_size=64, bptt=70, drop_mult=1.0,
               weight_decay=0.01, name="language_model", text_column="text",
               steps_per_execution=1):
        """A compiled language model, from a vocabulary (random weights) or a pretrained encoder.

        Args:
            vocabulary: the token list (`learn_vocabulary`); None with `encoder`.
            encoder: a `PretrainedEncoder` to start from (its vocabulary and
                architecture win over the size arguments).
            embedding_dim, hidden_units, layers, matmul_dtype: the architecture
                (`encoder_config`).
            batch_size: parallel token streams.
            bptt: mean BPTT window length.
            drop_mult: scales fastai's AWD-LSTM language-model dropouts.
            weight_decay: AdamW decoupled weight decay.
            name: model name.
            text_column: text column of DataFrames.
            steps_per_execution: `model.compile` option.
        """
        vocabulary, config = encoder_start(vocabulary, encoder, embedding_dim, hidden_units,
                                           layers, matmul_dtype)
        network = build_language_model(config, stream_rows=int(batch_size), drop_mult=drop_mult)
        if encoder is not None:
            set_encoder_weights(network, encoder.weights)
            if encoder.output_bias is not None:
                network.get_layer("output_bias").bias.assign(encoder.output_bias)
        metadata = text_metadata(name, vocabulary, config, encoder, batch_size, drop_mult,
                                 weight_decay, text_column, bptt=int(bptt),
                                 notes=dict(encoder.notes) if encoder is not None else {})
        task = cls(network, metadata=metadata)
        task.compile(steps_per_execution=steps_per_execution)
        return task

    # --- Declarations ---------------------------------------------------------

    def loss_and_metrics(self):
        return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                [keras.metrics.SparseCategoricalAccuracy(name="accuracy"), Perplexity()])

    def token_arrays(self, data):
        """Token id arrays of `data`'s texts, tokenized once per data object.

        `data` may also be already tokenized: a list of 1-D integer arrays
        (`[BOS]` first), as `self.tokenizer.tokenize` returns.
        """
        if isinstance(data, list) and data and all(
                isinstance(d, np.ndarray) and d.ndim == 1 and d.dtype.kind in "iu" for d in data):
            return data
        for seen, arrays in self._tokenized:
            if seen is data:
                return arrays
        arrays = self.tokenizer.tokenize(texts_of(data, self.metadata.get("text_column", "text")))
        self._tokenized = [(data, arrays)] + self._tokenized[:1]
        return arrays

    def make_dataset(self, data, *, training, batch_size, seed=None):
        rows = self.metadata["batch_size"]
        if batch_size != rows:
            raise ValueError(f"This language model carries state for {rows} parallel streams; "
                             f"it cannot train with batch_size={batch_size}.")
        streams = TokenStreams(self.token_arrays(data), rows, self.metadata["bptt"],
                               shuffle=training, seed=seed)
        return streams.dataset()

    # --- The recipe -------------------------------------------------------------

    def lr_find(self, data, **kwargs):
        """The LR range test; when fine-tuning, for the first (decoder-only) epoch."""
        if self.metadata.get("pretrained"):
            freeze(self.network, self.layer_groups)
        return super().lr_find(data, **kwargs)

    def train(self, data, *, epochs, lr_max=None, validation_data=None, **kwargs):
        """Pretraining: one-cycle on every layer. Fine-tuning: decoder first, then all layers.

        Returns:
            A list of `History` objects, one per stage.
        """
        lr_max = float(self.recipe_lr_max(epochs, lr_max))
        common = {"moms": TEXT_MOMS, "validation_data": validation_data, **kwargs}
        if not self.metadata.get("pretrained") or epochs == 1:
            unfreeze(self.network, self.layer_groups)
            return [self.fit_one_cycle(data, epochs=epochs, lr_max=lr_max, **common)]
        freeze(self.network, self.layer_groups)
        first = self.fit_one_cycle(data, epochs=1, lr_max=lr_max, **common)
        unfreeze(self.network, self.layer_groups)
        peak = lr_max / 10
        rates = (peak / GROUP_FACTOR ** (len(self.layer_groups) - 1), peak)
        return [first, self.fit_one_cycle(data, epochs=epochs, initial_epoch=1, lr_max=rates,
                                          **common)]

    # --- Encoder and generation -------------------------------------------------

    def encoder(self, notes=None):
        """This model's `PretrainedEncoder` (vocabulary, architecture, weights, decoder bias)."""
        return PretrainedEncoder(
            list(self.metadata["vocabulary"]), dict(self.metadata["encoder"]),
            encoder_weights(self.network),
            np.asarray(self.network.get_layer("output_bias").bias.numpy()),
            {**self.metadata.get("notes", {}), **(notes or {})})

    def save_encoder(self, folder, notes=None):
        """Writes the encoder folder a classifier (or `load_encoder`) starts from."""
        return save_encoder(self.encoder(notes), folder)

    def generate(self, prompt, n_words=20, temperature=0.8, seed=None):
        """Continues `prompt` by sampling `n_words` words (a sanity look at the model).

        Args:
            prompt: the beginning of a text.
            n_words: words to add (a word is a token that does not start with `##`).
            temperature: sampling temperature (lower = more likely tokens).
            seed: sampling seed.

        Returns:
            The prompt and the sampled continuation, as normalized text.
        """
        if not temperature > 0:
            raise ValueError(f"`temperature` must be > 0. Received: temperature={temperature!r}")
        rng = np.random.RandomState(seed)
        ids = list(self.tokenizer.tokenize([prompt])[0])
        embedding = self.network.get_layer("embedding")
        rnns = [item for item in self.network.layers if item.name.startswith("rnn_")]
        bias = self.network.get_layer("output_bias")
        states = [None] * len(rnns)
        feed, words = ids, 0
        while words < n_words and len(ids) < len(feed) + 10 * n_words + 10:
            x = embedding(tf.constant([feed], tf.int32))
            for index, rnn in enumerate(rnns):
                initial = states[index] or (tf.zeros([1, rnn.units]),) * 2
                x, h, c = rnn(x, initial_state=initial, return_state=True)
                states[index] = (h, c)
            logits = bias(embedding(x[:, -1], reverse=True)).numpy()[0] / temperature
            logits[:3] = -np.inf  # never [PAD], [UNK] or [BOS]
            probabilities = np.exp(logits - logits.max())
            token = int(rng.choice(len(probabilities), p=probabilities / probabilities.sum()))
            ids.append(token)
            feed = [token]
            words += not self.tokenizer.vocabulary[token].startswith("##")
        return self.tokenizer.decode(ids)
