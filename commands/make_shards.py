"""`mae-st-make-shards`: a folder or index of videos into WebDataset-style `.tar` shards, for `--streaming`."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mae_st_commands import ArgumentParser, output_path_problem, seed


DESCRIPTION = """\
Write the videos of a folder (flat, or class/split subfolders such as Kinetics' train/<class>/<video>.mp4), an index
file (CSV/JSONL of path and label, or the official Kinetics train.csv) or a folder of index files into .tar shards:
OUTPUT_DIR/<split>-00000.tar, ... One sample per video: <key>.<ext> (the video as it is, not re-encoded) and
<key>.json (its relative path and, when labeled, its class name); for labeled videos also OUTPUT_DIR/label_names.txt
(the class names in label-id order, one per line). Keys come from the relative paths, so they do not change between
runs. `mae-st-pretrain --streaming --dataset_name OUTPUT_DIR` streams them; `mae-st-finetune --dataset_name
OUTPUT_DIR` fine-tunes on the labeled ones.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="mae-st-make-shards", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset_name", required=True, help="Folder of videos, index file, or folder of index files.")
    parser.add_argument("--output_dir", required=True, help="Folder for the shards (must hold no .tar file yet).")
    parser.add_argument(
        "--max_videos_per_shard", type=int, default=None, help="Videos per shard, at most (default: 1000)."
    )
    parser.add_argument(
        "--max_shard_size", default=None,
        help="Bytes of video per shard, at most, e.g. 500MB or 2GB (default: no limit).",
    )  # fmt: skip
    parser.add_argument(
        "--num_shards", type=int, default=None,
        help="Instead of the two limits: this many shards per split, of equal video counts. Choose a multiple of the "
        "number of training processes (e.g. 256 for 8, 16, 32 ... GPUs) so that each reads whole shards of its own.",
    )  # fmt: skip
    parser.add_argument(
        "--no_shuffle", dest="shuffle", action="store_false",
        help="Keep the source's order (default: a seeded random order, so that each shard mixes classes).",
    )  # fmt: skip
    parser.add_argument("--seed", type=seed, default=0, help="Seed of the shuffled order (default: 0).")
    return parser


UNITS = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "B": 1}


def parse_size(text: str) -> int:
    """`"500MB"` -> 500_000_000 (decimal units, as `push_to_hub`'s `max_shard_size`); a plain number is bytes."""
    text = text.strip().upper()
    for unit, factor in UNITS.items():
        if text.endswith(unit):
            return int(float(text[: -len(unit)]) * factor)
    return int(text)


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (problem := output_path_problem("--output_dir", args.output_dir, folder=True)) is not None:
        parser.error(problem)
    try:
        max_shard_bytes = None if args.max_shard_size is None else parse_size(args.max_shard_size)
    except ValueError:
        parser.error(f"--max_shard_size: {args.max_shard_size!r} is not a size such as 500MB or 2GB")
    # (0 used to pass for "unset": --num_shards 0 wrote one shard, --max_shard_size 0 one per video)
    for flag, value in (("--max_videos_per_shard", args.max_videos_per_shard), ("--max_shard_size", max_shard_bytes),
                        ("--num_shards", args.num_shards)):  # fmt: skip
        if value is not None and value < 1:
            parser.error(f"{flag} must be at least 1, got {value}")
    if args.num_shards is not None and (args.max_videos_per_shard is not None or max_shard_bytes is not None):
        parser.error("--num_shards sets the shards' size itself: give it or --max_videos_per_shard / "
                     "--max_shard_size, not both")  # fmt: skip
    from modeling_mae_st.command_line import exit_on_user_error
    from modeling_mae_st.shards import LABEL_NAMES_FILE, write_video_shards

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with exit_on_user_error("mae-st-make-shards"):
        written = write_video_shards(
            args.dataset_name,
            args.output_dir,
            max_videos_per_shard=args.max_videos_per_shard or 1000,
            max_shard_bytes=max_shard_bytes,
            num_shards=args.num_shards,
            shuffle=args.shuffle,
            seed=args.seed,
        )
    for split, shards in written.items():
        print(f"{split}: {len(shards)} shard(s) in {args.output_dir}")
    label_names = Path(args.output_dir) / LABEL_NAMES_FILE
    if label_names.exists():
        print(f"{len(label_names.read_text().splitlines())} classes in {label_names}, in label-id order")


if __name__ == "__main__":
    main()
