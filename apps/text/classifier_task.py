"""`TextClassifierTask`: the AWD-LSTM encoder, concat pooling and fastai's head, on raw strings.

Trained on token ids (each text tokenized once), served on raw strings:
the exported SavedModel's `serving_default` takes a 1-D string tensor
`texts` and returns `probabilities` `(N, classes)`, `classes` (the class
names, repeated per text) and `label` (the most likely class; for
multi-label models `predicted`, a boolean `(N, classes)` at 0.5 instead).

With a pretrained encoder, `train` is ULMFiT's stage 3: gradual unfreezing
(`freeze_to(-1)`, `-2`, `-3`, then everything), one one-cycle per stage at
a peak rate halved, halved again, then divided by 5 (fastai's 2e-2, 1e-2,
5e-3, 1e-3), each spread over the layer groups by 2.6 per group
(`lr / 2.6**4` for the embedding). From scratch it is one one-cycle over
every layer.

Targets are one-hot, multi-hot or given probabilities (soft targets), so a
pseudo-labelling app may train on `(texts, probabilities, sample_weights)`.

Example:

>>> vocabulary = ["[PAD]", "[UNK]", "[BOS]", "good", "bad", "film"]
>>> task = TextClassifierTask.create(vocabulary, ["neg", "pos"], embedding_dim=8,
...                                  hidden_units=8, layers=2, batch_size=4)
>>> data = (["good film", "bad film"] * 8, ["pos", "neg"] * 8)
>>> _ = task.train(data, epochs=1, lr_max=1e-2, verbose=0)
>>> task.predict(["good film"]).shape
(1, 2)
"""

__all__ = ["TextClassifierTask"]

import keras
import tensorflow as tf

from apps.text.batching import ClassifierBatches, pad
from apps.text.data import labelled_examples, texts_of
from apps.text.lm_task import GROUP_FACTOR, TEXT_MOMS, encoder_start, text_metadata
from apps.text.network import build_classifier, classifier_layer_groups, set_encoder_weights
from apps.text.tokenizer import TextTokenizer
from dlkeras.freezing import freeze_to, unfreeze
from dlkeras.tasks import FASTAI_ADAM, Task

# Serving and training see a text's first CHARS_PER_TOKEN * max_tokens characters (a
# memory bound: see TextTokenizer's max_chars); 64 per token keeps every token of real text.
CHARS_PER_TOKEN = 64
# ULMFiT's stages: (groups frozen, peak rate as a fraction of lr_max).
UNFREEZING_STAGES = ((-1, 1.0), (-2, 0.5), (-3, 0.25), (0, 0.05))


class TextClassifierTask(Task):
    """Single- or multi-label text classification on an AWD-LSTM encoder.

    Metadata: `vocabulary`, `encoder` (`encoder_config`), `classes`,
    `multi_label`, `max_tokens`, `drop_mult`, `pretrained`, `batch_size`,
    `name`, `text_column`, `label_column`, `weight_decay`.
    """

    default_lr_max = 2e-2
    adam_options = FASTAI_ADAM

    def __init__(self, network, layer_groups=None, metadata=None):
        super().__init__(network, layer_groups or classifier_layer_groups(network), metadata)
        self.classes = list(self.metadata["classes"])
        self.multi_label = bool(self.metadata.get("multi_label", False))
        max_tokens = int(self.metadata.get("max_tokens", 512))
        self.tokenizer = TextTokenizer(self.metadata["vocabulary"], max_tokens=max_tokens,
                                       max_chars=CHARS_PER_TOKEN * max_tokens)
        self._tokenized = []

    @classmethod
    def create(cls, vocabulary=None, classes=None, *, encoder=None, multi_label=False,
               embedding_dim=256, hidden_units=512, layers=3, matmul_dtype="bfloat16",
               batch_size=64, max_tokens=512, drop_mult=0.5, weight_decay=0.01,
               name="text_classifier", text_column="text", label_column="label",
               steps_per_execution=1):
        """A compiled classifier, on a pretrained encoder or from scratch.

        Args:
            vocabulary: the token list; None with `encoder`.
            classes: the class names, in output order.
            encoder: a `PretrainedEncoder` (e.g. a fine-tuned language
                model's `encoder()`), or None to start from random weights.
            multi_label: independent sigmoid outputs instead of a softmax.
            embedding_dim, hidden_units, layers, matmul_dtype: the
                architecture when there is no encoder.
            batch_size: texts per step.
            max_tokens: longest text in tokens (longer ones keep their start; a text
                is first cut to `CHARS_PER_TOKEN * max_tokens` characters).
            drop_mult: scales fastai's AWD-LSTM classifier dropouts.
            weight_decay: AdamW decoupled weight decay.
            name, text_column, label_column: model name and DataFrame columns.
            steps_per_execution: `model.compile` option.
        """
        if not classes or len(set(map(str, classes))) != len(classes):
            raise ValueError(f"`classes` must be distinct class names. Received: classes={classes!r}")
        vocabulary, config = encoder_start(vocabulary, encoder, embedding_dim, hidden_units,
                                           layers, matmul_dtype)
        network = build_classifier(config, len(classes), multi_label=multi_label,
                                   drop_mult=drop_mult)
        if encoder is not None:
            set_encoder_weights(network, encoder.weights)
        metadata = text_metadata(name, vocabulary, config, encoder, batch_size, drop_mult,
                                 weight_decay, text_column, classes=[str(c) for c in classes],
                                 multi_label=bool(multi_label), max_tokens=int(max_tokens),
                                 label_column=label_column)
        task = cls(network, metadata=metadata)
        task.compile(steps_per_execution=steps_per_execution)
        return task

    # --- Declarations ---------------------------------------------------------

    def loss_and_metrics(self):
        if self.multi_label:
            return (keras.losses.BinaryCrossentropy(),
                    [keras.metrics.BinaryAccuracy(name="accuracy")])
        return (keras.losses.CategoricalCrossentropy(),
                [keras.metrics.CategoricalAccuracy(name="accuracy")])

    def examples(self, data):
        """`(token arrays, targets, sample_weights)` of labelled data (see `apps.text.data`)."""
        texts, targets, weights = labelled_examples(
            data, self.classes, self.multi_label, self.metadata.get("text_column", "text"),
            self.metadata.get("label_column", "label"))
        key = data if not isinstance(data, tuple) else data[0]
        for seen, arrays in self._tokenized:
            if seen is key:
                return arrays, targets, weights
        arrays = self.tokenizer.tokenize(texts)
        self._tokenized = [(key, arrays)] + self._tokenized[:1]
        return arrays, targets, weights

    def make_dataset(self, data, *, training, batch_size, seed=None):
        ids, targets, weights = self.examples(data)
        if training and not self.multi_label:
            _check_classes_present(targets, self.classes)
        return ClassifierBatches(ids, targets, weights, batch_size, training, seed).dataset()

    def prepare_inputs(self, inputs):
        return pad(self.tokenizer.tokenize(texts_of(inputs, self.metadata.get("text_column",
                                                                              "text"))))

    def build_inference_model(self):
        texts = keras.Input((), dtype="string", name="texts")
        tokens = TextTokenizer(self.metadata["vocabulary"], self.tokenizer.max_tokens,
                               self.tokenizer.max_chars, name="tokenizer")(texts)
        return keras.Model(texts, self.network(tokens), name="text_classifier_model")

    def serving_endpoints(self):
        model, classes, multi = self.inference_model, tf.constant(self.classes), self.multi_label

        def serve(texts):
            # A loaded signature checks dtypes, not shapes: [[a, b]] would be two texts.
            texts = tf.ensure_shape(texts, [None])
            probabilities = model(texts, training=False)
            names = tf.tile(classes[None], [tf.shape(probabilities)[0], 1])
            outputs = {"probabilities": probabilities, "classes": names}
            if multi:
                outputs["predicted"] = probabilities >= 0.5
            else:
                outputs["label"] = tf.gather(classes, tf.argmax(probabilities, axis=1))
            return outputs

        return {"serve": tf.function(serve, input_signature=[
            tf.TensorSpec([None], tf.string, name="texts")])}

    def serving_examples(self):
        return {"serve": {"texts": tf.constant(["A moving, beautifully acted film.", "",
                                                "   ", b"bad \xff\xfe bytes", "x " * 300])}}

    # --- The recipe -------------------------------------------------------------

    def lr_find(self, data, **kwargs):
        """The LR range test; on a pretrained encoder, for the first stage (head only)."""
        if self.metadata.get("pretrained"):
            freeze_to(self.network, -1, self.layer_groups)
        return super().lr_find(data, **kwargs)

    def train(self, data, *, epochs, lr_max=None, validation_data=None, **kwargs):
        """ULMFiT's gradual unfreezing on a pretrained encoder; one-cycle from scratch.

        Args:
            data, validation_data: labelled data.
            epochs: total epochs; with a pretrained encoder at least 4 (one per
                stage, the rest go to the last, fully unfrozen stage).
            lr_max: the first stage's peak rate (default 2e-2).
            **kwargs: `fit_one_cycle` / `model.fit` arguments.

        Returns:
            A list of `History` objects, one per stage.
        """
        lr_max = float(self.recipe_lr_max(epochs, lr_max))
        common = {"moms": TEXT_MOMS, "validation_data": validation_data, **kwargs}
        if not self.metadata.get("pretrained"):
            unfreeze(self.network, self.layer_groups)
            return [self.fit_one_cycle(data, epochs=epochs, lr_max=lr_max, **common)]
        stages = UNFREEZING_STAGES
        if epochs < len(stages):
            raise ValueError(f"Gradual unfreezing has {len(stages)} stages, one epoch each at "
                             f"least. Received: epochs={epochs}")
        histories, done = [], 0
        spread = GROUP_FACTOR ** (len(self.layer_groups) - 1)
        for index, (frozen, share) in enumerate(stages):
            stage_epochs = 1 if index < len(stages) - 1 else epochs - done
            freeze_to(self.network, max(frozen, -len(self.layer_groups) + 1) if frozen else 0,
                      self.layer_groups)
            peak = lr_max * share
            histories.append(self.fit_one_cycle(
                data, epochs=done + stage_epochs, initial_epoch=done,
                lr_max=(peak / spread, peak), **common))
            done += stage_epochs
        return histories


def _check_classes_present(targets, classes):
    """Refuses single-label training data whose targets give fewer than 2 classes any weight."""
    present = [name for name, total in zip(classes, targets.sum(axis=0)) if total > 0]
    if len(present) < 2:
        raise ValueError(f"The training labels hold {len(present)} of the {len(classes)} classes "
                         f"({present}); a classifier needs examples of at least 2.")
