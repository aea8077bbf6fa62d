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

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "LanguageModelTask": "apps.text.lm_task",
    "TextClassifierTask": "apps.text.classifier_task",
    "TextTokenizer": "apps.text.tokenizer",
    "learn_vocabulary": "apps.text.tokenizer",
    "PretrainedEncoder": "apps.text.encoder_files",
    "load_encoder": "apps.text.encoder_files",
    "save_encoder": "apps.text.encoder_files",
    "default_encoder_dir": "apps.text.encoder_files",
    "pretrain_general_lm": "apps.text.pretrain",
    "fine_tune_language_model": "apps.text.recipe",
    "build_classifier_task": "apps.text.recipe",
    "load_rotten_tomatoes": "apps.text.datasets",
    "rotten_tomatoes_split": "apps.text.datasets",
    "top_losses": "apps.text.interpret",
    "token_importance": "apps.text.interpret",
    "write_importance": "apps.text.interpret",
    "confusion_matrix": "apps.text.interpret",
    "write_reports": "apps.text.report",
})
