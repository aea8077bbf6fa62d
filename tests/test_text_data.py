"""Text app: the data kinds users have (CSV, class folders, plain text), and their errors."""
import numpy as np
import pandas as pd
import pytest

from apps.text.data import (
    encode_targets,
    infer_classes,
    labelled_examples,
    read_csv,
    read_folder,
    read_text_files,
    texts_of,
)


def test_class_folders_the_imdb_layout(tmp_path):
    for label, texts in {"neg": ["dull.", "bad"], "pos": ["great!"]}.items():
        (tmp_path / label).mkdir()
        for index, text in enumerate(texts):
            (tmp_path / label / f"{index}.txt").write_text(text)
    (tmp_path / "pos" / "notes.md").write_text("ignored")
    frame = read_folder(tmp_path)
    assert frame.to_dict("list") == {"text": ["dull.", "bad", "great!"],
                                     "label": ["neg", "neg", "pos"]}
    with pytest.raises(ValueError, match="No <class>/\\*.txt files"):
        read_folder(tmp_path / "neg")


def test_csv_with_multi_labels(tmp_path):
    pd.DataFrame({"body": ["a", "b", ""], "tags": ["x;y", "y", ""]}).to_csv(tmp_path / "t.csv",
                                                                           index=False)
    frame = read_csv(tmp_path / "t.csv", "body", "tags", label_delimiter=";")
    assert frame["label"].tolist() == [["x", "y"], ["y"], []]
    classes, multi = infer_classes(frame["label"].tolist())
    assert (classes, multi) == (["x", "y"], True)
    _, targets, _ = labelled_examples(frame, classes, multi)
    np.testing.assert_array_equal(targets, [[1, 1], [0, 1], [0, 0]])
    with pytest.raises(KeyError, match=r"Column 'boddy' is not in .* \(did you mean 'body'\?\)"):
        read_csv(tmp_path / "t.csv", "boddy")


def test_plain_text_files_give_one_document_per_paragraph(tmp_path):
    (tmp_path / "a.txt").write_text("First para\nstill first.\n\nSecond.\r\n\r\nThird\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_bytes(b"bad \xff byte")
    assert read_text_files([tmp_path / "a.txt"]) == ["First para\nstill first.", "Second.",
                                                     "Third"]
    assert read_text_files([tmp_path])[-1] == "bad \ufffd byte"
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        read_text_files([tmp_path / "missing.txt"])


def test_texts_and_labels_are_checked():
    assert texts_of(pd.Series(["a", None, 3])) == ["a", "", "3"]
    with pytest.raises(TypeError, match="not one string"):
        texts_of("just one text")
    with pytest.raises(ValueError, match="at least two classes"):
        infer_classes(["pos", "pos"])
    with pytest.raises(ValueError, match=r"3 texts but 2 labels"):
        labelled_examples((["a", "b", "c"], ["x", "y"]), ["x", "y"])
    with pytest.raises(ValueError, match=r"single-label"):
        encode_targets([["x", "y"]], ["x", "y"], multi_label=False)
    with pytest.raises(ValueError, match=r"3 columns for 2 classes"):
        encode_targets(np.ones((1, 3)), ["x", "y"], multi_label=False)
    # Soft targets: NaN trained to a NaN loss, stopped only by the guard (issue 12).
    for bad in (np.nan, -0.5, 1.5, np.inf):
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\]: 1 row\(s\) do not, e.g. row 1"):
            encode_targets(np.array([[0.2, 0.8], [bad, 1.0]]), ["x", "y"], multi_label=False)


def test_training_labels_of_a_single_class_are_refused():
    from apps.text.classifier_task import TextClassifierTask

    task = TextClassifierTask.create(["[PAD]", "[UNK]", "[BOS]", "good"], ["neg", "pos"],
                                     embedding_dim=4, hidden_units=4, layers=1, batch_size=2)
    with pytest.raises(ValueError, match=r"hold 1 of the 2 classes \(\['pos'\]\)"):
        task.train((["good"] * 4, ["pos"] * 4), epochs=1, verbose=0)  # trained silently before
