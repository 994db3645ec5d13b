"""`fer2013[:PATH]`: the FER2013 faces (48 x 48 grey) from the Kaggle CSV, with the official split.

We read the CSV ourselves instead of through `torchvision.datasets.FER2013` because that class (a) only knows
"train" and "test", merging PublicTest and PrivateTest, while we need the official three-way split
Training -> train, PublicTest -> val, PrivateTest -> test; and (b) insists on the MD5 of the full Kaggle file,
so a subset or a re-saved CSV is refused. We accept the same files in the same place and order of
precedence: ROOT/fer2013/ holding fer2013.csv ("emotion,pixels,Usage"), icml_face_data.csv
("emotion, Usage, pixels") or train.csv + test.csv. The last pair has no Usage column: train.csv is the
Training set and test.csv holds PublicTest followed by PrivateTest (first half -> val, second half -> test),
without labels (-1). `fer2013:PATH` points at a CSV file or a folder directly.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

from ganrecon.data.arrays import existing_file
from ganrecon.data.convert import IMAGE_RANGE
from ganrecon.data.loader import Context, Raw
from ganrecon.errors import GanreconError

CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}
SIDE = 48
_KAGGLE = "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge"


def _find_files(folder: Path) -> list[Path]:
    for name in ("fer2013.csv", "icml_face_data.csv"):
        if (folder / name).is_file():
            return [folder / name]
    if (folder / "train.csv").is_file() and (folder / "test.csv").is_file():
        return [folder / "train.csv", folder / "test.csv"]
    return []


def _rows(path: Path):
    """(row number, dict with stripped column names) for each data row of a CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if "pixels" not in header:
                raise GanreconError(f"{path} has no 'pixels' column; is it a FER2013 CSV?")
            for number, row in enumerate(reader):
                if row:
                    yield number, dict(zip(header, (v.strip() for v in row)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise GanreconError(f"{path} is not a readable FER2013 CSV ({type(exc).__name__}).") from None


def _pixels(text: str, path: Path, number: int) -> np.ndarray:
    with warnings.catch_warnings():  # a malformed row only warns; the size check below reports it
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(text, dtype=np.int64, sep=" ") if text else np.zeros(0, np.int64)
    if values.size != SIDE * SIDE or values.min() < 0 or values.max() > 255:
        raise GanreconError(f"Row {number + 1} of {path} must hold {SIDE * SIDE} grey values 0-255.")
    return values.astype(np.uint8)


def _label(row: dict) -> int:
    try:
        return int(row.get("emotion", -1) or -1)
    except ValueError:
        return -1


def load_fer2013(rest: str, ctx: Context) -> Raw:
    if rest:
        given = existing_file(rest, "fer2013", "file or folder")
        files = [given] if given.is_file() else _find_files(given)
        where = given
    else:
        where = ctx.root / "fer2013"
        files = _find_files(where) or _find_files(ctx.root)
    if not files:
        raise GanreconError(f"FER2013 was not found: download fer2013.csv from {_KAGGLE} into {where} "
                            f"(or pass fer2013:PATH to the CSV).")
    wanted = ctx.wanted
    images, labels, index = [], [], []
    offset = 0
    for file in files:
        plain_test = file.name == "test.csv" and len(files) == 2
        rows = list(_rows(file))
        for position, (number, row) in enumerate(rows):
            if "Usage" in row:
                usage = row["Usage"]
                if usage not in USAGE_TO_SPLIT:
                    raise GanreconError(f"Row {number + 1} of {file} has Usage {usage!r}; expected Training, "
                                        f"PublicTest or PrivateTest.")
                split = USAGE_TO_SPLIT[usage]
            elif plain_test:
                split = "val" if position < len(rows) // 2 else "test"
            else:
                split = "train"
            if ctx.split is not None and split != ctx.split:
                continue
            if wanted is not None and len(images) >= wanted:
                break
            images.append(_pixels(row.get("pixels", ""), file, number))
            labels.append(_label(row))
            index.append(offset + number)
        offset += len(rows)
    array = np.stack(images).reshape(-1, 1, SIDE, SIDE).astype(np.float32) / 255.0 if images else \
        np.zeros((0, 1, SIDE, SIDE), np.float32)
    return Raw(images=array, value_range=IMAGE_RANGE, name="fer2013",
               meta={"path": str(files[0].parent), "csv_files": [f.name for f in files], "classes": list(CLASSES)},
               per_image={"index": np.asarray(index, dtype=np.int64), "labels": np.asarray(labels, np.int64)})
