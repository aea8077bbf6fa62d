"""Text app: general pretraining on a tiny slice, the encoder cache, and a user's own encoder."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from apps.text import pretrain  # noqa: E402
from apps.text.classifier_task import TextClassifierTask  # noqa: E402
from apps.text.encoder_files import default_encoder_dir, load_encoder  # noqa: E402
from apps.text.lm_task import LanguageModelTask  # noqa: E402
from apps.text.network import encoder_weights  # noqa: E402

TINY = {"vocabulary_size": 60, "min_frequency": 1, "max_tokens": 3000, "max_document_tokens": 30,
        "batch_size": 4, "bptt": 8, "embedding_dim": 4, "hidden_units": 6, "layers": 2}


def tiny_corpus(sources):
    rng = np.random.RandomState(0)
    words = "the news market film friends said good bad stock price show".split()
    return [" ".join(rng.choice(words, rng.randint(3, 40))) for _ in range(300)]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    streamed = []
    make_dataset = LanguageModelTask.make_dataset

    def recording(self, data, **kwargs):
        streamed.append(self.token_arrays(data))
        return make_dataset(self, data, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pretrain, "general_corpus", tiny_corpus)
        patch.setattr(LanguageModelTask, "make_dataset", recording)
        patch.setenv("DLKERAS_CACHE_DIR", str(cache))
        task, notes = pretrain.pretrain_general_lm(verbose=0, **TINY)
        folder = default_encoder_dir()
    notes["streamed_tokens"] = sum(len(d) for d in streamed[0])
    return task, notes, folder


def test_pretraining_caches_the_encoder_with_its_notes(pretrained, tmp_path):
    task, notes, folder = pretrained
    assert folder.name == "general_lm" and (folder / "encoder.json").is_file()
    assert 2500 <= notes["train_tokens"] <= 3000 + TINY["max_document_tokens"]
    assert notes["streamed_tokens"] == notes["train_tokens"]  # the ids themselves are streamed
    assert notes["valid_tokens"] > 0 and np.isfinite(notes["valid_perplexity"])
    assert notes["valid_perplexity"] < 60  # better than uniform over the vocabulary
    encoder = load_encoder(folder)
    assert encoder.vocabulary == task.metadata["vocabulary"] and len(encoder.vocabulary) <= 60
    for name, value in encoder_weights(task.network).items():
        np.testing.assert_array_equal(encoder.weights[name], value)
    np.testing.assert_array_equal(encoder.output_bias,
                                  task.network.get_layer("output_bias").bias.numpy())


def test_a_users_encoder_starts_the_language_model_and_the_classifier(pretrained, tmp_path):
    task, _, folder = pretrained
    task.save_encoder(tmp_path / "mine", notes={"by": "test"})
    encoder = load_encoder(tmp_path / "mine")
    assert encoder.notes["by"] == "test" and "valid_perplexity" in encoder.notes
    lm = LanguageModelTask.create(encoder=encoder, batch_size=2, bptt=5)
    text = ["the film said good news"]
    np.testing.assert_allclose(lm.evaluate(text * 8)["loss"],
                               LanguageModelTask.create(encoder=encoder, batch_size=2,
                                                        bptt=5).evaluate(text * 8)["loss"],
                               rtol=1e-6)
    classifier = TextClassifierTask.create(classes=["a", "b"], encoder=encoder)
    for name, value in encoder.weights.items():
        np.testing.assert_array_equal(encoder_weights(classifier.network)[name], value)


def test_corpus_plan_cuts_documents_and_holds_out_validation():
    documents = [np.arange(n + 1) for n in range(1, 400)]
    plan = pretrain.corpus_plan(documents, max_tokens=1000, max_document_tokens=50, seed=1)
    assert all(len(d) <= 50 for d in plan.train + plan.valid)
    assert 1000 <= sum(len(d) for d in plan.train) < 1050 and len(plan.valid) == 3
    train_ids = {d[-1] for d in plan.train if len(d) < 50}
    assert not train_ids & {d[-1] for d in plan.valid if len(d) < 50}
    # Each cut array is the start of the document it names, and no document is used twice.
    for arrays, indices in ((plan.train, plan.train_documents), (plan.valid, plan.valid_documents)):
        assert len(arrays) == len(indices)
        for array, index in zip(arrays, indices):
            np.testing.assert_array_equal(array, documents[index][:50])
    assert len(set(plan.train_documents + plan.valid_documents)) == len(plan.train) + len(plan.valid)


def test_unknown_settings_are_refused():
    with pytest.raises(TypeError, match=r"Unknown pretraining settings \['vocab_size'\]"):
        pretrain.pretrain_general_lm(vocab_size=10)
