"""Interpretation: top losses (the texts), the confusion matrix, and per-token importance.

The losses, the matrix and its plot are the core's (`dlkeras.interpretation`,
re-exported here); this module adds the texts and the word importances.

Token importance is integrated gradients on the token vectors (Sundararajan
et al., 2017): the vectors are scaled from zero to their value in `steps`
steps, and each token's importance is its vector times the mean gradient of
the class probability, summed over the vector. The importances of a text
add up to `p(class | text) - p(class | all-zero vectors)` (up to the
integration error). Subwords are merged back into words (their
importances added) for display: an HTML page with highlighted words (green
for the class, red against it) and a TensorBoard text summary.

Example:

>>> confusion_matrix([0, 1, 1], [0, 0, 1], 2).tolist()
[[1, 0], [1, 1]]
>>> print(importance_html([(["good", "film"], [0.5, -0.1], "pos", 0.9)])[:15])
<!DOCTYPE html>
"""

__all__ = ["top_losses", "token_importance", "write_importance", "confusion_matrix"]

import html
import pathlib

import numpy as np
import pandas as pd
import tensorflow as tf

from apps.text.network import classify_embedded
from apps.text.tokenizer import BOS_ID
from dlkeras import interpretation as core
from dlkeras.interpretation import confusion_matrix, plot_confusion_matrix  # noqa: F401


def top_losses(task, data, k=10):
    """The `k` labelled texts the classifier gets most wrong, as a DataFrame.

    The losses are the core's (`dlkeras.interpretation.top_losses`):
    cross-entropy of the actual class (soft targets count as their most
    probable class), mean binary cross-entropy when multi-label.

    Returns:
        Columns `text`, `actual`, `predicted`, `probability` (of the
        prediction), `loss`; sorted by loss, highest first.
    """
    from apps.text.data import labelled_examples

    texts, targets, _ = labelled_examples(data, task.classes, task.multi_label,
                                          task.metadata.get("text_column", "text"),
                                          task.metadata.get("label_column", "label"))
    probabilities = task.predict(texts)
    if task.multi_label:
        order, losses = core.top_losses(probabilities, targets, k, task="multi_label")
    else:
        order, losses = core.top_losses(probabilities, targets.argmax(axis=1), k)
    names = np.asarray(task.classes)

    def describe(row):
        return ", ".join(names[row >= 0.5]) if task.multi_label else names[row.argmax()]

    return pd.DataFrame({
        "text": [texts[i] for i in order],
        "actual": [describe(targets[i]) for i in order],
        "predicted": [describe(probabilities[i]) for i in order],
        "probability": [float(probabilities[i].max()) for i in order],
        "loss": losses})


def integrated_gradients(network, ids, class_index=None, steps=32):
    """Importance of each token id of one text (`[BOS]` included) for one class.

    Returns:
        `(importances (T,), class index, probability of that class)`.
    """
    tokens = tf.constant(np.asarray(ids)[None], tf.int32)
    vectors = network.get_layer("embedding")(tokens)
    mask = tf.ones_like(tokens, tf.bool)
    probability = classify_embedded(network, vectors, mask)[0].numpy()
    class_index = int(probability.argmax()) if class_index is None else int(class_index)
    alphas = tf.reshape((tf.range(steps, dtype=tf.float32) + 0.5) / steps, [steps, 1, 1])
    path = alphas * vectors
    with tf.GradientTape() as tape:
        tape.watch(path)
        scores = classify_embedded(network, path, tf.tile(mask, [steps, 1]))[:, class_index]
    gradients = tape.gradient(scores, path)
    importance = tf.reduce_sum(vectors[0] * tf.reduce_mean(gradients, axis=0), axis=-1)
    return importance.numpy(), class_index, float(probability[class_index])


def token_importance(task, text, class_index=None, steps=32):
    """Integrated-gradients importance of each word of `text` for one class.

    Args:
        task: a `TextClassifierTask`.
        text: one string.
        class_index: the class to explain (default: the predicted one).
        steps: integration steps (more = closer to the exact integral).

    Returns:
        `(words, importances, class name, probability of that class)`;
        `[BOS]`'s share is left out.
    """
    ids = task.tokenizer.tokenize([text])[0]
    importance, class_index, probability = integrated_gradients(task.network, ids, class_index,
                                                                steps)
    words, values = _merge_subwords(task.tokenizer.pieces(ids), importance, ids)
    return words, values, task.classes[class_index], probability


def _merge_subwords(pieces, importance, ids):
    words, values = [], []
    for piece, value, token in zip(pieces, importance, ids):
        if token == BOS_ID:
            continue
        if piece.startswith("##") and words:
            words[-1] += piece[2:]
            values[-1] += float(value)
        else:
            words.append(piece)
            values.append(float(value))
    return words, values


def _word_span(word, value, scale):
    alpha = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    color = "0, 160, 0" if value >= 0 else "220, 0, 0"
    return (f'<span title="{value:+.4f}" style="background-color: rgba({color}, {alpha:.2f}); '
            f'padding: 1px 2px; border-radius: 3px">{html.escape(word)}</span>')


def importance_html(explanations, title="Token importance"):
    """An HTML page: one paragraph per `(words, importances, class, probability)`."""
    parts = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>",
             f"<title>{html.escape(title)}</title></head>",
             "<body style='font-family: sans-serif; max-width: 50em'>",
             f"<h1>{html.escape(title)}</h1>",
             "<p>Integrated gradients: green words push towards the class shown, red words "
             "against it; hover a word for its value.</p>"]
    for words, values, label, probability in explanations:
        scale = max((abs(v) for v in values), default=0.0)
        spans = " ".join(_word_span(w, v, scale) for w, v in zip(words, values))
        parts.append(f"<p><b>{html.escape(str(label))}</b> ({probability:.3f}): {spans}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def importance_markdown(words, values, label, probability, top=5):
    """One explanation as Markdown (TensorBoard's text plugin renders it)."""
    ranked = set(np.argsort(-np.abs(values))[:top].tolist())
    text = " ".join(f"**{w}**({v:+.2f})" if i in ranked else w
                    for i, (w, v) in enumerate(zip(words, values)))
    return f"*{label}* ({probability:.3f}): {text}"


def write_importance(task, texts, html_path=None, log_dir=None, step=0, steps=32):
    """Explains `texts`; writes the HTML page and/or a TensorBoard text summary.

    Returns:
        The explanations `[(words, importances, class, probability), ...]`.
    """
    explanations = [token_importance(task, text, steps=steps) for text in texts]
    if html_path is not None:
        path = pathlib.Path(html_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(importance_html(explanations), encoding="utf-8")
    if log_dir is not None:
        with tf.summary.create_file_writer(str(log_dir)).as_default():
            markdown = "\n\n".join(importance_markdown(*e) for e in explanations)
            tf.summary.text("token_importance", markdown, step=step)
    return explanations
