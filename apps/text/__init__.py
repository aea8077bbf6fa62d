"""Text app: ULMFiT in Keras, with the tokenizer inside the model.

`LanguageModelTask` (AWD-LSTM, BPTT streams) is pretrained on the bundled
general corpus (`pretrain_general_lm`) and fine-tuned on the target texts;
`TextClassifierTask` trains on its encoder with gradual unfreezing and
exports a SavedModel that takes raw strings. Command line:
`python -m apps.text --help`.

Example:

>>> from apps.text import TextClassifierTask  # loads TensorFlow on first use
>>> TextClassifierTask.default_lr_max
0.02
"""
from apps import lazy_exports

__getattr__, __dir__ = lazy_exports(__package__, [
    "lm_task", "classifier_task", "tokenizer", "encoder_files", "pretrain", "recipe",
    "datasets", "interpret", "report"])
