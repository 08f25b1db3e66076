"""Loading a dataset folder: records per split, images opened only when asked for.

A dataset folder holds `{train,val,test,gen}.jsonl` (one record.Record per line; any split may
be missing), the image files they name (paths relative to the folder), and optionally
`meta.json` (generator settings) and `pairs.jsonl` (preference pairs, one JSON object a line).

`load_dataset_dir` parses and checks every record (schema, plan against its scene, consistency:
see validate.py) and fails on the first bad one with "file:line: field: message"; image files
are checked when opened. `as_hf_dataset` gives the same records as a `datasets.DatasetDict`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evlm.protocol import Limits
from evlm.record import Record
from training.data.validate import SPLITS, RecordError, iter_lines, record_problems

if TYPE_CHECKING:
    import datasets
    from PIL import Image


class DatasetError(ValueError):
    """A dataset folder that cannot be loaded; the message names the file and line."""


@dataclass(frozen=True)
class Example:
    """One record and the folder its image paths are relative to. Images open on demand."""

    record: Record
    root: Path

    @property
    def image_paths(self) -> list[Path]:
        return [self.root / v.image for v in self.record.views]

    @property
    def reference_path(self) -> Path | None:
        return self.root / self.record.reference if self.record.reference else None

    def images(self, max_pixels: int = Limits().max_pixels) -> list[Image.Image]:
        """The views' images, decoded to RGB exactly as the server decodes them."""
        return [_open(p, max_pixels) for p in self.image_paths]

    def references(self, max_pixels: int = Limits().max_pixels) -> list[Image.Image]:
        """The reference image, if any (a list: the engine takes several)."""
        path = self.reference_path
        return [_open(path, max_pixels)] if path is not None else []


def _open(path: Path, max_pixels: int) -> Image.Image:
    from evlm_server.images import decode_image

    try:
        return decode_image(path.read_bytes(), max_pixels)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: {e}") from None


@dataclass
class LocalDataset:
    root: Path
    splits: dict[str, list[Example]]  # only the splits whose files exist
    meta: dict = field(default_factory=dict)
    pairs: list[dict] = field(default_factory=list)

    def __getitem__(self, split: str) -> list[Example]:
        if split not in self.splits:
            raise KeyError(f"no {split!r} split in {self.root} (has: {', '.join(self.splits) or 'none'})")
        return self.splits[split]

    def records(self, split: str) -> list[Record]:
        return [e.record for e in self[split]]


CHUNK = 256  # lines a worker process checks at a time


def read_split(path: str | Path, root: str | Path | None = None, workers: int = 0) -> list[Example]:
    """Every record of one JSONL file; DatasetError at the first bad line. `workers` > 1: the
    lines are parsed and checked in that many processes (a large split: checking a record costs a
    few milliseconds of one core), with the same result."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    lines = list(iter_lines(path))
    chunks = [(path.name, path.stem, lines[k : k + CHUNK]) for k in range(0, len(lines), CHUNK)]
    if workers > 1 and len(chunks) > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(min(workers, len(chunks))) as pool:
            parts = pool.map(_check_lines, chunks)
    else:
        parts = [_check_lines(c) for c in chunks]
    return [Example(record, root) for part in parts for record in part]


def _check_lines(chunk: tuple[str, str, list[tuple[int, str]]]) -> list[Record]:
    name, stem, lines = chunk
    out = []
    for no, line in lines:
        record, problems = record_problems(line, None, check_images=False)
        if problems:
            raise DatasetError(problems[0].at(f"{name}:{no}").text())
        if stem in SPLITS and record.split != stem:
            raise DatasetError(RecordError("split", f"{record.split!r} in the {stem} file", f"{name}:{no}").text())
        out.append(record)
    return out


def load_dataset_dir(
    root: str | Path, splits: list[str] | tuple[str, ...] | None = None, workers: int = 0
) -> LocalDataset:
    """The dataset in `root`: the named splits (default: every split file present), checked in
    `workers` processes if more than one (read_split)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    wanted = list(splits) if splits is not None else [s for s in SPLITS if (root / f"{s}.jsonl").is_file()]
    for s in wanted:
        if s not in SPLITS:
            raise ValueError(f"unknown split {s!r}: expected one of {', '.join(SPLITS)}")
        if not (root / f"{s}.jsonl").is_file():
            raise FileNotFoundError(f"split file not found: {root / f'{s}.jsonl'}")
    if not wanted:
        raise FileNotFoundError(f"no split files ({', '.join(s + '.jsonl' for s in SPLITS)}) in {root}")
    data = LocalDataset(root, {s: read_split(root / f"{s}.jsonl", root, workers) for s in wanted})
    meta = root / "meta.json"
    if meta.is_file():
        try:
            data.meta = json.loads(meta.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise DatasetError(f"meta.json: invalid JSON: {e}") from None
    pairs = root / "pairs.jsonl"
    if pairs.is_file():
        for no, line in iter_lines(pairs):
            try:
                data.pairs.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DatasetError(f"pairs.jsonl:{no}: invalid JSON: {e}") from None
    return data


# ---------------------------------------------------------------- Hugging Face datasets
# Columns of the HF view. Ops put different types under one key (`factor` is a vector in
# `scale` and a number in `retime`), which Arrow's schema inference cannot hold, so the nested
# parts travel as JSON strings: `record` is the whole record, `images` the absolute image paths.
HF_COLUMNS = ("id", "split", "modality", "family", "variant", "group", "source", "instruction", "reasoning")


def as_hf_dataset(
    root: str | Path, splits: list[str] | tuple[str, ...] | None = None, cache_dir: str | Path | None = None
) -> datasets.DatasetDict:
    """The dataset as a `datasets.DatasetDict` (one entry per split), loaded with
    `datasets.load_dataset("json", ...)` from local files only.

    Columns: the record's scalar fields (HF_COLUMNS), `score_reasoning`, `score_answer`,
    `record` (the full record as JSON: `record_from_row` parses it back), `images` and
    `reference` (absolute paths). The records are checked (as `load_dataset_dir`) and written
    as flat JSONL under `cache_dir`, which also holds the Arrow cache (default: a folder per
    dataset path under the `datasets` cache, so the dataset folder stays untouched).
    """
    import datasets

    data = load_dataset_dir(root, splits)
    if cache_dir is None:
        key = hashlib.sha1(str(data.root.resolve()).encode()).hexdigest()[:16]
        cache_dir = Path(datasets.config.HF_DATASETS_CACHE) / "evlm" / key
    cache = Path(cache_dir)
    flat_dir = cache / "flat"
    flat_dir.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, examples in data.splits.items():
        path = flat_dir / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for ex in examples:
                f.write(json.dumps(_flat_row(ex), ensure_ascii=False) + "\n")
        files[split] = str(path)
    features = datasets.Features(
        {
            **{c: datasets.Value("string") for c in HF_COLUMNS},
            "score_reasoning": datasets.Value("float64"),
            "score_answer": datasets.Value("float64"),
            "record": datasets.Value("string"),
            "images": datasets.List(datasets.Value("string")),
            "reference": datasets.Value("string"),
        }
    )
    # "json" is a builder packaged with `datasets`: nothing is fetched from the hub.
    return datasets.load_dataset("json", data_files=files, features=features, cache_dir=str(cache / "arrow"))


def _flat_row(ex: Example) -> dict:
    r = ex.record
    row = {c: getattr(r, c) for c in HF_COLUMNS}
    row["score_reasoning"], row["score_answer"] = r.scores.reasoning, r.scores.answer
    row["record"] = r.model_dump_json()
    row["images"] = [str(p.resolve()) for p in ex.image_paths]
    row["reference"] = str(ex.reference_path.resolve()) if ex.reference_path else None
    return row


def record_from_row(row: dict) -> Record:
    """The Record of an `as_hf_dataset` row."""
    return Record.model_validate_json(row["record"])


def example_from_row(row: dict) -> Example:
    """An Example of an `as_hf_dataset` row, with image paths resolved as in the row."""
    record = record_from_row(row)
    images = list(row["images"])
    views = [v.model_copy(update={"image": img}) for v, img in zip(record.views, images, strict=True)]
    record = record.model_copy(update={"views": views, "reference": row.get("reference")})
    return Example(record, Path("/"))
