"""benchmarks/text_vs_fastai.py: fastai gets the documents dlkeras pretrained on, and the table."""
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from benchmarks import text_vs_fastai  # noqa: E402


@pytest.fixture(scope="module")
def tiny_general(tmp_path_factory):
    """A tiny general LM pretrained on a synthetic corpus (the app's own code path)."""
    from apps.text import pretrain

    rng = np.random.RandomState(0)
    words = "the news market film friends said good bad stock price show".split()
    corpus = [f"doc{i} " + " ".join(rng.choice(words, rng.randint(3, 40))) for i in range(200)]
    tiny = {"vocabulary_size": 300, "min_frequency": 1, "max_tokens": 2000,
            "max_document_tokens": 30, "batch_size": 4, "bptt": 8, "embedding_dim": 4,
            "hidden_units": 6, "layers": 2}
    patch = pytest.MonkeyPatch()
    patch.setattr(pretrain, "general_corpus", lambda sources=None: corpus)
    for key, value in tiny.items():
        patch.setitem(pretrain.PRETRAIN_DEFAULTS, key, value)
    folder = tmp_path_factory.mktemp("general")
    _, notes = pretrain.pretrain_general_lm(folder, verbose=0)
    patch.undo()
    return folder, corpus, notes


def _export(tmp_path, monkeypatch, tiny_general, **kwargs):
    from apps.text import datasets, pretrain

    folder, corpus, _ = tiny_general
    monkeypatch.setattr(pretrain, "general_corpus", lambda sources=None: corpus)
    frame = pd.DataFrame({"text": [f"snippet {i}" for i in range(40)],
                          "label": ["pos", "neg"] * 20, "score": np.arange(40.0)})
    monkeypatch.setattr(datasets, "rotten_tomatoes_split",
                        lambda: (frame.iloc[:30].reset_index(drop=True), frame.iloc[30:]))
    return text_vs_fastai.export_data(str(tmp_path), str(folder), **kwargs)


def test_export_hands_fastai_the_documents_the_general_lm_trained_on(tmp_path, monkeypatch,
                                                                      tiny_general):
    from apps.text.encoder_files import load_encoder
    from apps.text.tokenizer import TextTokenizer

    folder, corpus, notes = tiny_general
    summary = _export(tmp_path, monkeypatch, tiny_general)
    general = pd.read_json(tmp_path / "general.jsonl", lines=True)
    train, valid = general[~general.is_valid], general[general.is_valid]
    # The exported training documents, tokenized and cut as pretraining did, hold
    # exactly the tokens the pretraining run counted in its notes.
    tokenizer = TextTokenizer(load_encoder(folder).vocabulary, max_tokens=30)
    assert sum(len(d) for d in tokenizer.tokenize(list(train.text))) == notes["train_tokens"]
    assert sum(len(d) for d in tokenizer.tokenize(list(valid.text))) == notes["valid_tokens"]
    assert set(train.text) <= set(corpus) and not set(train.text) & set(valid.text)
    assert summary["dlkeras_general_tokens"] == notes["train_tokens"]
    assert len(pd.read_json(tmp_path / "rt_train.jsonl", lines=True)) == 30
    assert list(pd.read_json(tmp_path / "rt_test.jsonl", lines=True).columns) == ["text", "label"]


def test_export_refuses_an_encoder_trained_on_another_sample(tmp_path, monkeypatch, tiny_general):
    folder, _, _ = tiny_general
    description = json.loads((folder / "encoder.json").read_text())
    description["notes"]["train_tokens"] += 1
    other = tmp_path / "other"
    other.mkdir()
    for name in os.listdir(folder):
        (other / name).write_bytes((folder / name).read_bytes())
    (other / "encoder.json").write_text(json.dumps(description))
    with pytest.raises(RuntimeError, match="not the sample it was trained on"):
        _export(tmp_path, monkeypatch, (other, *tiny_general[1:]))


def test_table_means_per_library_and_model():
    rows = [{"library": "dlkeras", "model": "ulmfit", "accuracy": 0.6, "lm_s": 300,
             "classifier_s": 100, "peak_rss_mib": 2000},
            {"library": "dlkeras", "model": "ulmfit", "accuracy": 0.7, "lm_s": 320,
             "classifier_s": 110, "peak_rss_mib": 2100},
            {"library": "fastai", "model": "scratch", "accuracy": 0.75, "classifier_s": 200,
             "peak_rss_mib": 1500}]
    report = {"rows": rows, "export": {"dlkeras_general_tokens": 10,
                                       "dlkeras_general": {"train_s": 5.0}}}
    lines = text_vs_fastai.table(report).splitlines()
    assert "| dlkeras | ulmfit | 2 | 0.6000, 0.7000 | 0.6500 | 310 | 105 | 2050 |" in lines
    assert "| fastai | scratch | 1 | 0.7500 | 0.7500 | - | 200 | 1500 |" in lines


def test_a_missing_fastai_environment_is_a_parser_error(capsys):
    with pytest.raises(SystemExit) as stop:
        text_vs_fastai.main(["--fastai-python", "/nowhere/python"])
    assert stop.value.code == 2
    assert "no fastai environment" in capsys.readouterr().err
