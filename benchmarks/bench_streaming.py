"""
Clips per second of one DataLoader worker for pretraining, streamed from `.tar` shards (`--streaming`:
`modeling_mae_st.streaming`) beside the map-style path over a folder of the same videos (`data.build_video_dataloader`),
interleaved in one process (with `process_video` in the process, from a path and from in-memory bytes, to separate
decoding from bytes from the loader's own costs); and how fast a process reads its part of the stream without decoding (the work the
process itself does for the stream, and what a resume replays).

    python benchmarks/bench_streaming.py [--repeats 5] [--num_videos 8] [--num_workers 1]

Videos: `--num_videos` copies of a generated Kinetics-like clip (10 s of 568x320 H.264 at 30 fps, x264 defaults; see
bench_video_data.py), written into a folder and into shards of 4 videos by `write_video_shards`. Clips: the official
pretraining ones (16 frames, stride 4, random resized crop to 224, flip, `repeat_aug` 4, uint8 out). Each round runs
both paths once over all videos, alternating which goes first; the rate is timed from the first batch to the last
(the first batch pays the worker's start). Prints a Markdown table with the median of `--repeats` rounds and the load.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import torch

from bench_video_data import make_kinetics_like_h264
from modeling_mae_st.data import build_video_dataloader, load_video_dataset
from modeling_mae_st.shards import write_video_shards
from modeling_mae_st.streaming import VideoStream, build_stream_dataloader
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor


def rate(loader, num_batches: int, take=None) -> float:
    """Clips per second received from `loader` over `num_batches` batches, after its first one."""
    clips, start = 0, None
    for index, batch in enumerate(loader):
        if take is not None:
            take(batch)
        if start is None:
            start = time.perf_counter()
        else:
            clips += len(batch["pixel_values"])
        if index + 1 == num_batches:
            break
    return clips / (time.perf_counter() - start)


def map_style_rate(folder: Path, processor, num_videos: int, num_workers: int, seed: int) -> float:
    dataset = load_video_dataset(folder, label_column=None)["train"]
    loader = build_video_dataloader(dataset, processor, batch_size=1, num_workers=num_workers, seed=seed,
                                    pin_memory=False)  # fmt: skip
    return rate(loader, num_videos)


def streamed_rate(shards: Path, processor, num_videos: int, num_workers: int, seed: int) -> float:
    stream = VideoStream(load_video_dataset(shards, label_column=None, streaming=True)["train"], 1, seed=seed,
                         shuffle_buffer_size=num_videos)  # fmt: skip
    loader = build_stream_dataloader(stream, processor, seed, num_workers=num_workers, pin_memory=False)
    return rate(loader, num_videos, take=stream.take)


def process_video_rate(source, processor, num_videos: int, num_workers: int, seed: int) -> float:
    """Clips per second of `process_video` in this process, from a path or from a `{"path", "bytes"}` cell (as a
    shard's sample arrives in the worker)."""
    start = time.perf_counter()
    clips = sum(len(processor.process_video(source, rng=random.Random(seed * 1000 + i))) for i in range(num_videos))
    return clips / (time.perf_counter() - start)


def read_rate(shards: Path, num_passes: int = 3) -> tuple[float, float]:
    """(videos/s, MB/s) of iterating a process's part of the stream as encoded bytes, shuffle buffer included."""
    stream = VideoStream(load_video_dataset(shards, label_column=None, streaming=True)["train"], 1, seed=0)
    videos = size = 0
    start = time.perf_counter()
    for batch in stream:
        videos += 1
        size += len(batch[0].video["bytes"])
        if batch[0].video_pass == num_passes:
            break
    seconds = time.perf_counter() - start
    return videos / seconds, size / seconds / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (median reported)")
    parser.add_argument("--num_videos", type=int, default=8, help="videos per round")
    parser.add_argument("--num_workers", type=int, default=1, help="DataLoader workers")
    args = parser.parse_args()

    torch.set_num_threads(1)
    datasets.disable_progress_bars()
    processor = MAESTVideoProcessor(mode="train", repeat_aug=4, return_uint8=True)
    loads = [os.getloadavg()[0]]
    rates: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = make_kinetics_like_h264(tmp)
        folder = tmp / "videos"
        folder.mkdir()
        for index in range(args.num_videos):
            shutil.copy(source, folder / f"video_{index:04d}.mp4")
        write_video_shards(folder, tmp / "shards", max_videos_per_shard=4)
        paths = {
            "map-style (folder)": (map_style_rate, folder),
            "streamed (.tar shards)": (streamed_rate, tmp / "shards"),
            "process_video from a path (no loader)": (process_video_rate, str(source)),
            "process_video from bytes (no loader)": (process_video_rate, {"path": "a.mp4", "bytes": source.read_bytes()}),
        }
        for round_index in range(args.repeats):
            order = list(paths.items())[:: 1 if round_index % 2 else -1]
            for name, (measure, data) in order:
                rates.setdefault(name, []).append(measure(data, processor, args.num_videos, args.num_workers, round_index))
                loads.append(os.getloadavg()[0])
                print(name, f"{rates[name][-1]:.2f} clips/s", f"load {loads[-1]:.1f}", file=sys.stderr, flush=True)
        videos_per_second, megabytes_per_second = read_rate(tmp / "shards")
        video_megabytes = source.stat().st_size / 1e6

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {min(loads):.1f}-{max(loads):.1f} during "
        f"the run; torch {torch.__version__}, 1 thread; {args.num_workers} worker(s); median of {args.repeats} "
        f"interleaved rounds of {args.num_videos} videos ({video_megabytes:.2f} MB each), repeat_aug 4.\n"
    )
    print("| path | clips/s per worker (median) | range |")  # (the "no loader" rows: in this process)
    print("| --- | ---: | ---: |")
    for name, values in rates.items():
        values = [value / (1 if "no loader" in name else args.num_workers) for value in values]
        print(f"| {name} | {np.median(values):.2f} | {min(values):.2f}-{max(values):.2f} |")
    print(
        f"\nReading the stream without decoding (the process's own work, and a resume's replay): "
        f"{videos_per_second:.0f} videos/s, {megabytes_per_second:.0f} MB/s."
    )


if __name__ == "__main__":
    main()
