"""A folder of saved data plus one JSON description with a format number.

The shape of the run folder (`dlkeras.tasks.run_folder`) and of the text
app's encoder folders: the data files are written first and the description
last, so a folder that has a description is complete; reading checks both
are there, that the JSON parses and that its `format` is the one this code
reads, and says so in one clear message otherwise.

Example:

>>> import json, pathlib, tempfile
>>> folder = write_described_folder(tempfile.mkdtemp(), "notes.json", {"format": 2, "n": 3},
...                                 lambda path: (path / "data.txt").write_text("x"))
>>> read_folder_description(folder, "notes.json", "data.txt", kind="notes", version=2,
...                         missing="holds no notes")["n"]
3
>>> read_folder_description(folder, "notes.json", "data.txt", kind="notes", version=3,
...                         missing="holds no notes")
Traceback (most recent call last):
...
ValueError: '.../notes.json' has notes format 2; this dlkeras reads format 3.
"""

import json
import pathlib


def write_described_folder(folder, description_file, description, write_data):
    """Writes `write_data(folder)`, then `description` as JSON; returns the folder as a `Path`.

    Args:
        folder: the folder (created if needed).
        description_file: the JSON file's name in `folder`.
        description: a JSON-able dict; checked before anything is written.
        write_data: a function of the folder that writes the data files.
    """
    folder = pathlib.Path(folder)
    text = json.dumps(description, indent=1)  # fails before anything is written if not JSON-able
    folder.mkdir(parents=True, exist_ok=True)
    write_data(folder)
    (folder / description_file).write_text(text)
    return folder


def read_folder_description(folder, description_file, data_file, *, kind, version, missing):
    """The parsed JSON description of a folder written by `write_described_folder`.

    Args:
        folder: the folder.
        description_file, data_file: the names of its JSON description and of
            a data file that must be there too.
        kind: what the format is called in messages (`"run-folder"`).
        version: the `format` value this code reads.
        missing: the message after the quoted folder when a file is missing
            (what the folder lacks and what to do).

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: the JSON does not parse, or has another format.
    """
    folder = pathlib.Path(folder)
    path = folder / description_file
    if not path.is_file() or not (folder / data_file).is_file():
        raise FileNotFoundError(f"{str(folder)!r} {missing}")
    try:
        description = json.loads(path.read_text())
    except ValueError as error:
        raise ValueError(f"{str(path)!r} is not valid JSON: {error}") from None
    if description.get("format") != version:
        raise ValueError(f"{str(path)!r} has {kind} format {description.get('format')!r}; "
                         f"this dlkeras reads format {version}.")
    return description
