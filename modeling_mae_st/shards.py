"""
WebDataset-style `.tar` shards of videos: write them from a folder or an index, read them with 🤗 datasets.

A shard holds one sample per video, as consecutive tar members sharing a key: `<key>.<ext>` (the encoded video, its
own extension: `.mp4`, `.webm`, `.avi` ...) and `<key>.json` (`{"path": ..., "label": ...}`, the video's path relative
to the source and its class name when labeled). Keys come from the relative path (so they stay the same from one
run of the writer to the next, whatever the order), with the dots of the file name replaced, since WebDataset cuts a
member name at its first dot. Shards are named `<split>-<index>.tar` (`train-00000.tar`, ...), which is how
`datasets` tells the splits of a folder apart. Labeled shards have `label_names.txt` beside them: the class names in
label-id order, one per line (the format of `datasets.ClassLabel(names_file=...)`), so that a stream knows its
classes before it reads a sample.

`datasets` reads shards natively (`load_dataset("webdataset", data_files=..., streaming=True)`); [`load_video_shards`]
does that with every video extension declared, so that samples of different containers share one `video` column,
and a sample without a video gets `None` there (the training loop skips and counts it); the class names of the
`.json` members become a `label` `ClassLabel` column.
"""

from __future__ import annotations

import errno
import glob
import hashlib
import io
import json
import logging
import os
import random
import tarfile
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Any

import datasets

from .command_line import UsageError
from .data import (
    LABEL_COLUMN,
    SPLIT_NAMES,
    VIDEO_COLUMN,
    VIDEO_EXTENSIONS,
    DatasetSourceError,
    get_label_names,
    load_video_dataset,
    prepare_video_dataset,
)


logger = logging.getLogger(__name__)

# the members of a sample that hold a video: the extensions `load_video_folder` accepts, without the dot
VIDEO_FIELDS = tuple(extension.lstrip(".") for extension in VIDEO_EXTENSIONS)
KEY_FIELDS = ("__key__", "__url__")  # what `datasets` adds to every WebDataset sample: its key and its shard
METADATA_FIELD = "json"  # the member with the sample's relative path and class name
LABEL_NAMES_FILE = "label_names.txt"  # beside labeled shards: class names in label-id order, one per line
COPY_WARNING_BYTES = 1_000_000_000  # shards read whole (not streamed) beyond this size are worth a warning


# ---------------------------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------------------------


def _split_of(path: Path) -> str:
    """The split a shard belongs to: its file name's first word (`train-00000.tar`, `val_3.tar`) or its folder's
    (`train/00000.tar`) when that is a split name, else "train"."""
    for word in (path.name.split("-")[0].split("_")[0].split(".")[0], path.parent.name):
        if word in SPLIT_NAMES:
            return SPLIT_NAMES[word]
    return "train"


def find_shards(source: str | Path) -> dict[str, list[str]] | None:
    """
    The `.tar` shards of `source`, by split, or `None` when `source` is no shard source.

    Args:
        source: a `.tar` file, a glob pattern (`/data/k400/train-*.tar`), or a folder holding `.tar` files (directly
            or in split folders `train/`, `validation/` ...); or a remote `.tar` file or pattern that `datasets`
            resolves itself (`hf://datasets/you/k400-shards/train-*.tar`, `s3://...`), one split.

    Returns:
        `{split: sorted shard paths}`, splits told apart by file or folder name (see [`_split_of`]).
    """
    source = str(source)
    if "://" in source:
        return {_split_of(Path(source)): [source]} if source.endswith(".tar") else None
    if glob.has_magic(source):
        paths = [Path(path) for path in glob.glob(os.path.expanduser(source))]
    elif Path(source).is_dir():
        paths = [*Path(source).glob("*.tar"), *Path(source).glob("*/*.tar")]
    else:
        paths = [Path(source)]
    paths = sorted(path for path in paths if path.suffix == ".tar" and path.is_file())
    if not paths:
        return None
    by_split: dict[str, list[str]] = {}
    for path in paths:
        by_split.setdefault(_split_of(path), []).append(str(path))
    return by_split


def _read_label_names(path: str) -> list[str]:
    """Class names, one per line (blank lines ignored), from a local path or a URL that fsspec opens."""
    import fsspec

    with fsspec.open(path, "r", encoding="utf-8") as file:
        return [line.strip() for line in file if line.strip()]


def _label_names_beside(source: str, shards: dict[str, list[str]]) -> tuple[list[str], str] | None:
    """The class names of the `label_names.txt` beside the shards (in their folder or the one above, for split
    folders) and where it is, or `None` if there is none."""
    if "://" in source:  # a remote pattern: the file beside it, read through fsspec (hf://, s3://)
        places = [source.rsplit("/", 1)[0] + "/" + LABEL_NAMES_FILE]
    else:
        folders = {Path(path).parent for paths in shards.values() for path in paths}
        places = sorted({str(folder / LABEL_NAMES_FILE) for folder in folders | {folder.parent for folder in folders}})
    for place in places:
        try:
            return _read_label_names(place), place
        except FileNotFoundError:
            continue
        except OSError as error:  # unreachable, no rights: not the same as unlabeled
            raise DatasetSourceError(f"{place}: cannot be read ({error}).") from None
    return None


def _labels_in_members(shards: dict[str, list[str]]) -> set[str]:
    """The class names the `.json` members of local shards hold (the tar headers are read and the videos skipped)."""
    labels: set[str] = set()
    for path in (path for paths in shards.values() for path in paths):
        with tarfile.open(path) as archive:
            for member in archive:
                if member.isfile() and member.name.endswith("." + METADATA_FIELD):
                    try:
                        label = json.loads(archive.extractfile(member).read()).get("label")
                    except (ValueError, AttributeError):  # not JSON, or not an object: no label to find
                        continue
                    if label is not None:
                        labels.add(str(label))
    return labels


def shard_label_names(source: str | Path, shards: dict[str, list[str]] | None = None) -> list[str] | None:
    """
    The class names of the shards of `source`, in label-id order, or `None` for unlabeled shards.

    From the `label_names.txt` beside them (written by [`write_video_shards`]), else, for local shards, the sorted
    class names of their `.json` members (shards written without the file); remote shards without the file are read
    as unlabeled.

    Raises:
        DatasetSourceError: `label_names.txt` exists but cannot be read, or names no class or a class twice.
    """
    source = str(source)
    shards = find_shards(source) if shards is None else shards
    if not shards:
        return None
    found = _label_names_beside(source, shards)
    if found is None:
        return None if "://" in source else (sorted(_labels_in_members(shards)) or None)
    names, place = found
    repeated = sorted({name for name in names if names.count(name) > 1})
    if not names or repeated:
        raise DatasetSourceError(
            f"{place}: names {'no class' if not names else f'the classes {repeated} more than once'}; it should "
            "hold each class name once, one per line, in label-id order."
        )
    return names


def _sample_columns(example: dict[str, Any], label_ids: Mapping[str, int] | None) -> dict[str, Any]:
    """A WebDataset sample's video cell (the first video member; `None` if it holds none) and, for labeled shards,
    its label id (-1, `ClassLabel`'s "no label", for a sample without a class name or with one not among the
    shards' classes: the training loop skips and counts it)."""
    cells = [example[field] for field in VIDEO_FIELDS if example.get(field) is not None]
    columns = {VIDEO_COLUMN: cells[0] if cells else None}
    if label_ids is not None:
        label = (example.get(METADATA_FIELD) or {}).get("label")
        columns[LABEL_COLUMN] = label_ids.get(label, -1)
        if label is not None and label not in label_ids:
            logger.warning("Sample %s: its label %r is not one of the shards' classes", sample_name(example), label)
    return columns


def load_video_shards(
    source: str | Path, streaming: bool = True, labeled: bool = True
) -> datasets.IterableDatasetDict | datasets.DatasetDict:
    """
    Read the shards of `source` (see [`find_shards`]) with `datasets`' WebDataset builder.

    Every video extension of `VIDEO_EXTENSIONS` is declared, so samples of different containers share one column
    (the builder would otherwise take its columns from the first five samples).

    Args:
        source: see [`find_shards`].
        streaming: read lazily (`IterableDatasetDict`) instead of into `datasets`' cache.
        labeled: read the class names of the `.json` members into a `label` column when the shards have classes
            (see [`shard_label_names`]); `False` (pretraining) leaves them unread.

    Returns:
        One dataset per split with columns `video` (a `{"path": "<key>.<ext>", "bytes"}` cell, `None` for a sample
        without a video), for labeled shards `label` (a `ClassLabel` of the shards' classes; -1 for a sample without
        one of them), `__key__` (the sample's key) and `__url__` (its shard).

    Raises:
        FileNotFoundError: `source` holds no `.tar` file.
        DatasetSourceError: a `label_names.txt` that cannot be read or is malformed.
    """
    source = str(source)
    shards = find_shards(source)
    if shards is None:
        raise FileNotFoundError(errno.ENOENT, "No .tar shards found at", source)
    label_names = shard_label_names(source, shards) if labeled else None
    local = [Path(path) for paths in shards.values() for path in paths if "://" not in path]
    size = sum(path.stat().st_size for path in local)
    if not streaming and size > COPY_WARNING_BYTES:
        logger.warning(
            f"Reading {len(local)} shards ({size / 1e9:.1f} GB) whole copies their videos into datasets' cache; "
            "--streaming reads them in place."
        )
    keys = dict.fromkeys(KEY_FIELDS, datasets.Value("string"))
    features = datasets.Features(
        {
            **{field: datasets.Video(decode=False) for field in VIDEO_FIELDS},
            **({METADATA_FIELD: {"label": datasets.Value("string")}} if label_names else {}),
            **keys,
        }
    )
    dataset = datasets.load_dataset("webdataset", data_files=shards, features=features, streaming=streaming)
    output = datasets.Features(
        {
            VIDEO_COLUMN: datasets.Video(decode=False),
            **({LABEL_COLUMN: datasets.ClassLabel(names=label_names)} if label_names else {}),
            **keys,
        }
    )
    label_ids = {name: index for index, name in enumerate(label_names)} if label_names else None
    splits = {
        split: part.map(
            partial(_sample_columns, label_ids=label_ids),
            remove_columns=[field for field in features if field not in KEY_FIELDS],
            features=output,
        )
        for split, part in dataset.items()
    }
    return prepare_video_dataset(type(dataset)(splits), label_column=LABEL_COLUMN if label_names else None)


def sample_name(example: Mapping[str, Any]) -> str:
    """A name of a streamed example for messages and seeds: `<shard>/<key>` for a WebDataset sample, the video's
    path for a path or a cell with one, else (encoded bytes alone, as in some Hub datasets) `sha256:<digest>` of the
    bytes, so that two videos of one size do not share their clips' seeds."""
    from .video_decoding import video_name

    if example.get("__key__") is not None:
        return f"{Path(example.get('__url__') or '').name}/{example['__key__']}"
    video = example[VIDEO_COLUMN]
    encoded = video.get("bytes") if isinstance(video, Mapping) and not video.get("path") else video
    if isinstance(encoded, (bytes, bytearray, memoryview)):
        return f"sha256:{hashlib.sha256(encoded).hexdigest()[:16]}"
    return video_name(video)


# ---------------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------------


def sample_key(relative_path: str) -> str:
    """The WebDataset key of a video at `relative_path` (POSIX, relative to the source): the path without its
    extension, dots of the file name replaced by `_` (a member name is cut at its first dot)."""
    folder, name = os.path.split(relative_path)
    stem = os.path.splitext(name)[0].replace(".", "_")
    return f"{folder}/{stem}" if folder else stem


def _tar_member(name: str, payload: bytes) -> tuple[tarfile.TarInfo, io.BytesIO]:
    """A member with fixed metadata (time, owner, mode): the same videos give byte-identical shards."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(payload), 0o644, 0
    return info, io.BytesIO(payload)


def _video_bytes(video: Any) -> tuple[bytes, str]:
    """The encoded bytes of a dataset's video entry (a path or a `{"path", "bytes"}` cell) and its path."""
    if isinstance(video, Mapping):
        path = video.get("path") or ""
        return (video["bytes"] if video.get("bytes") else Path(path).read_bytes()), path
    return Path(video).read_bytes(), str(video)


def write_video_shards(
    source: str | Path,
    output_dir: str | Path,
    max_videos_per_shard: int = 1000,
    max_shard_bytes: int | None = None,
    num_shards: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
) -> dict[str, list[Path]]:
    """
    Write the videos of `source` into `.tar` shards `output_dir/<split>-<index>.tar`, one sample per video, and for
    labeled videos their class names in label-id order into `output_dir/label_names.txt`.

    A shard is closed before it would exceed `max_videos_per_shard` videos or `max_shard_bytes` bytes (a shard
    always holds at least one video). The videos are copied as they are (not decoded: a broken one is written and
    skipped at training time, like a broken file in a folder).

    Args:
        source: a folder of videos (with class and split subfolders or not), an index file or a folder of index
            files: anything [`load_video_dataset`] reads whose videos are files (or cells with bytes).
        output_dir: folder for the shards; it must not already hold shards.
        max_videos_per_shard: videos per shard, at most.
        max_shard_bytes: bytes of video per shard, at most; `None`: no limit.
        num_shards: instead of the two limits, split each split's videos into this many shards of equal counts (one
            more or less), or one per video if there are fewer. A count that the number of training processes
            divides lets each process read whole shards of its own (see `streaming.VideoStream`).
        shuffle: write the videos of each split in a random order (seeded by `seed`), so that a shard mixes classes
            and a streamed shuffle buffer of a few hundred videos gives mixed batches. Keys do not depend on it.
        seed: seed of that order.

    Returns:
        `{split: shard paths}` in writing order.

    Raises:
        UsageError: `output_dir` already holds `.tar` files or a `label_names.txt`, `source` holds no video, two
            videos would get the same key, or a limit is below 1.
        FileNotFoundError: `source` does not exist.
    """
    if min(max_videos_per_shard, max_shard_bytes or 1, num_shards or 1) < 1:
        raise UsageError(
            f"Shard limits must be at least 1, got {max_videos_per_shard} videos, {max_shard_bytes} bytes and "
            f"{num_shards} shards."
        )
    output_dir = Path(output_dir)
    if output_dir.is_dir() and (any(output_dir.glob("*.tar")) or (output_dir / LABEL_NAMES_FILE).exists()):
        raise UsageError(f"{output_dir} already holds .tar shards or a {LABEL_NAMES_FILE}; write into an empty folder.")
    source_path = Path(source)
    if not source_path.exists():
        raise FileNotFoundError(errno.ENOENT, "No such file or folder", str(source))
    root = source_path if source_path.is_dir() else source_path.parent
    try:
        dataset = load_video_dataset(source)
    except DatasetSourceError:  # no videos, mixed layouts, not an index: its message names the source
        raise
    except ValueError as error:  # anything else the source's content makes datasets refuse
        raise UsageError(f"{source}: {error}") from None
    output_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[Path]] = {}
    try:
        _write_shards(dataset, output_dir, root, written, max_videos_per_shard, max_shard_bytes, num_shards, shuffle,
                      seed)  # fmt: skip
    except BaseException:  # a video missing halfway, an interrupt: nothing half-written stays to refuse the retry
        for path in [output_dir / LABEL_NAMES_FILE, *(shard for shards in written.values() for shard in shards)]:
            path.unlink(missing_ok=True)
        raise
    return written


def _path_under(path: str, root: Path) -> str | None:
    """`path` relative to the folder `root` as it is named (a link inside it keeps its own name: resolved, a link
    to a file elsewhere gave the machine's absolute path as the shard key), else resolved; `None` outside it."""
    named = (Path(os.path.abspath(root)), Path(os.path.abspath(path)))
    for folder, candidate in (named, (root.resolve(), Path(path).resolve())):
        if candidate.is_relative_to(folder):
            return candidate.relative_to(folder).as_posix()
    return None


def _write_shards(
    dataset, output_dir: Path, root: Path, written: dict[str, list[Path]], max_videos_per_shard: int,
    max_shard_bytes: int | None, num_shards: int | None, shuffle: bool, seed: int,
) -> None:  # fmt: skip
    """The writing part of [`write_video_shards`]: `written[split]` lists each shard as soon as it is opened."""
    label_names = get_label_names(dataset)  # the same ClassLabel in every split
    if label_names is not None:
        (output_dir / LABEL_NAMES_FILE).write_text("".join(f"{name}\n" for name in label_names), encoding="utf-8")
    for split, split_dataset in dataset.items():
        label_feature = split_dataset.features.get("label")
        rows = list(split_dataset)
        if shuffle:
            random.Random(seed).shuffle(rows)
        keys: dict[str, str] = {}
        shards = written[split] = []
        archive, videos_in_shard, bytes_in_shard = None, 0, 0
        for index, row in enumerate(rows):
            payload, path = _video_bytes(row[VIDEO_COLUMN])
            relative = _path_under(path, root) if path else None
            relative = relative if relative is not None else path.lstrip("/")
            key = sample_key(relative)
            if key in keys:
                raise UsageError(f"{path} and {keys[key]} would both have the shard key {key!r}; rename one.")
            keys[key] = path
            if num_shards is not None:  # shard i holds the rows i * len / num_shards onwards
                full = index * num_shards // len(rows) >= len(shards)
            else:
                full = videos_in_shard >= max_videos_per_shard or (
                    max_shard_bytes is not None and videos_in_shard and bytes_in_shard + len(payload) > max_shard_bytes
                )
            if archive is None or full:
                if archive is not None:
                    archive.close()
                shards.append(output_dir / f"{split}-{len(shards):05d}.tar")
                archive, videos_in_shard, bytes_in_shard = tarfile.open(shards[-1], "w"), 0, 0
            metadata = {"path": relative}
            if label_feature is not None:
                metadata["label"] = label_feature.int2str(row["label"])
            extension = os.path.splitext(relative)[1].lower() or ".mp4"
            archive.addfile(*_tar_member(key + extension, payload))
            archive.addfile(*_tar_member(key + ".json", json.dumps(metadata).encode()))
            videos_in_shard, bytes_in_shard = videos_in_shard + 1, bytes_in_shard + len(payload)
        if archive is not None:
            archive.close()
        logger.info(f"{split}: {len(rows)} videos in {len(shards)} shards under {output_dir}")


__all__ = [
    "LABEL_NAMES_FILE",
    "VIDEO_FIELDS",
    "find_shards",
    "load_video_shards",
    "sample_key",
    "sample_name",
    "shard_label_names",
    "write_video_shards",
]
