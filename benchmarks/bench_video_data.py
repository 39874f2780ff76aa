"""
Clips per second of one DataLoader worker (one process, one torch thread, one decoder thread) for MAE-ST's video
data, today's path beside the path before the data-path work (`--baseline`, a git revision), interleaved.

    python benchmarks/bench_video_data.py [--repeats 5] [--num_videos 5] [--baseline 22e9605] [--demo DEMO.avi]

Videos: the official demo clip (853x480 MPEG-4 part 2 in AVI, a keyframe every 12 frames) and a generated
Kinetics-like H.264 clip (568x320, 10 s at 30 fps, x264 defaults: B-frames, one keyframe per 250 frames).

Rows, each with decord and PyAV:
- "worker": `batch_size=1` video through a real `DataLoader` with one worker process, timed from the first batch to
  the last in the main process: decoding, augmentation, collation and the transfer of the batch to the main process.
  Today's path ships uint8 clips (`return_uint8=True`), which the training loop normalizes on the accelerator, and
  with them the fine-tuning clips' random-erasing draws, applied after normalizing; those steps are timed apart, on
  this CPU (the last lines), since they are not the worker's work.
- "process_video" (`repeat_aug` 4 only): the same videos decoded and augmented in this process, without the loader.
Configurations: the official pretraining clips (16 frames, stride 4, random resized crop to 224, flip;
`repeat_aug` 4 and 1) and the fine-tuning augmentation (`repeat_aug` 2, RandAugment m7 n2, random erasing 0.25;
float clips before, uint8 clips with their erasing draws now). The fine-tuning row draws a window per copy on both
sides, as the path before did, so that both draw the same RandAugment operations from the same seeds (their cost
varies 10x between operations); the recipe's shared window only decodes less.

The baseline is the package's video and data modules at `--baseline` (its processor and its DataLoader), read from
git into a temporary package, so both paths run in one process, alternately, under the same load. Prints a Markdown
table with the median of `--repeats` rounds and the load average.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import datasets
import numpy as np
import torch
from av.video.frame import PictureType

from modeling_mae_st.data import build_video_dataloader
from modeling_mae_st.synthetic import render_motion_video, write_video
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor
from modeling_mae_st.video_transforms import draw_random_erasing


REPOSITORY = Path(__file__).resolve().parents[1]
DEMO = REPOSITORY.parent / "shared" / "videos" / "demo.avi"
BASELINE = "22e9605"  # the last commit before the data-path work
BASELINE_MODULES = ("configuration_mae_st", "video_decoding", "video_transforms", "video_processing_mae_st", "data")


def make_kinetics_like_h264(folder: Path) -> Path:
    """A 10-second 568x320 H.264 clip at 30 fps with x264's defaults (B-frames, keyframe every 250 frames)."""
    frames = render_motion_video("right", 300, (568, 320), np.random.default_rng(0))
    return write_video(folder / "kinetics_like_320p.mp4", frames, fps=30, codec="libx264")


def describe(path: Path) -> str:
    """Size, codec, frames, keyframes and B-frames of a video, for the table."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
    keyframes = sum(frame.key_frame for frame in frames)
    b_frames = sum(frame.pict_type == PictureType.B for frame in frames)
    return (
        f"{path.name}: {stream.codec_context.name} {frames[0].width}x{frames[0].height}, {len(frames)} frames, "
        f"{keyframes} keyframes, {b_frames} B-frames"
    )


def import_baseline(revision: str, folder: Path):
    """
    The video processor class and `build_video_dataloader` of the package at `revision`, from git, as the package
    `mae_st_baseline` (its DataLoader too: today's workers also keep their freed memory, `data.py`).
    """
    package = folder / "mae_st_baseline"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in BASELINE_MODULES:
        source = subprocess.run(
            ["git", "-C", str(REPOSITORY), "show", f"{revision}:modeling_mae_st/{module}.py"],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        (package / f"{module}.py").write_text(source)
    sys.path.insert(0, str(folder))
    processor_class = importlib.import_module("mae_st_baseline.video_processing_mae_st").MAESTVideoProcessor
    return processor_class, importlib.import_module("mae_st_baseline.data").build_video_dataloader


def configurations(baseline_class, backend: str) -> dict[str, tuple]:
    """Configuration label -> (processor before, processor now)."""
    pretraining = {"mode": "train", "decoding_backend": backend}
    fine_tuning = {
        **pretraining, "repeat_aug": 2, "do_rand_augment": True, "do_random_erasing": True,
        "rand_augment_policy": "rand-m7-mstd0.5-inc1",
    }  # fmt: skip
    return {
        "pretraining, repeat_aug=4": (
            baseline_class(repeat_aug=4, **pretraining),
            MAESTVideoProcessor(repeat_aug=4, return_uint8=True, **pretraining),
        ),
        "pretraining, repeat_aug=1": (
            baseline_class(repeat_aug=1, **pretraining),
            MAESTVideoProcessor(repeat_aug=1, return_uint8=True, **pretraining),
        ),
        "fine-tuning (RandAugment, erasing), repeat_aug=2": (
            baseline_class(**fine_tuning),
            MAESTVideoProcessor(return_uint8=True, **fine_tuning),
        ),
    }


def worker_rate(
    processor, path: Path, num_videos: int, seed: int, num_workers: int = 1, batch_size: int = 1,
    pin_memory: bool = False, build_dataloader=build_video_dataloader,
) -> float:
    """
    Clips per second received from a DataLoader of `num_workers` workers (`build_dataloader`'s: today's or the
    baseline's), after each worker's first batch (which also pays the worker's start).
    """
    dataset = datasets.Dataset.from_dict({"video": [str(path)] * num_videos})
    loader = build_dataloader(
        dataset, processor, batch_size=batch_size, num_workers=num_workers, seed=seed, pin_memory=pin_memory
    )
    clips, start = 0, None
    for index, batch in enumerate(loader):
        if index == num_workers - 1:  # every worker has started and delivered a batch
            start = time.perf_counter()
        elif start is not None:
            clips += len(batch["pixel_values"])
    return clips / (time.perf_counter() - start)


def process_video_rate(processor, path: Path, num_videos: int, seed: int, build_dataloader=None) -> float:
    """Clips per second of `process_video` in this process."""
    import random

    start, clips = time.perf_counter(), 0
    for index in range(num_videos):
        clips += len(processor.process_video(str(path), rng=random.Random(seed * 1000 + index)))
    return clips / (time.perf_counter() - start)


def normalization_ms_per_clip(repeats: int = 20, erasing: bool = False) -> float:
    """
    Milliseconds per 16x3x224x224 clip of `normalize_pixel_values` on this CPU, one thread, batch of 4 clips; with
    `erasing`, every clip also erased with the fine-tuning recipe's box (pixel fill, drawn on the CPU).
    """
    import random

    processor = MAESTVideoProcessor(mode="train", return_uint8=True)
    clips = torch.randint(0, 256, (4, 16, 3, 224, 224), dtype=torch.uint8)
    times = []
    for index in range(repeats):
        rng = random.Random(index)
        draws = [draw_random_erasing(224, 224, 1.0 if erasing else 0.0, rng) for _ in range(4)]
        start = time.perf_counter()
        processor.normalize_pixel_values(clips, draws)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) / 4 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds per row (median reported)")
    parser.add_argument("--num_videos", type=int, default=5, help="videos per round")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the path to compare with")
    parser.add_argument("--demo", type=Path, default=DEMO, help="the official demo clip")
    parser.add_argument("--backends", nargs="+", default=["decord", "pyav"])
    parser.add_argument("--only", default="", help="run only the configurations whose label contains this text")
    args = parser.parse_args()

    torch.set_num_threads(1)  # what a DataLoader worker gets
    loads = [os.getloadavg()[0]]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        baseline_class, baseline_dataloader = import_baseline(args.baseline, Path(folder))
        dataloaders = {"before": baseline_dataloader, "now": build_video_dataloader}
        videos = [args.demo, make_kinetics_like_h264(Path(folder))]
        # Every DataLoader row first: the baseline converts to RGB through PyAV's shared converter
        # (`frame.to_ndarray`), which runs swscale threads; a worker forked once this process had used it (in a
        # process_video row) inherits the converter without its threads and hung freeing them (PyAV 18.1.1, seen
        # in gdb). Today's path keeps a converter of its own per file, with one thread.
        timings = {"worker": worker_rate, "process_video": process_video_rate}
        for timing, rate in timings.items():
            for path in videos:
                for backend in args.backends:
                    for label, (before, now) in configurations(baseline_class, backend).items():
                        # the goal's configuration (repeat_aug=4) gets both timings, the others the worker's
                        if args.only not in label or (timing == "process_video" and "repeat_aug=4" not in label):
                            continue
                        rates: dict[str, list[float]] = {"before": [], "now": []}
                        for round_index in range(args.repeats):
                            # alternate which path goes first, so that neither always meets the same load
                            order = [("before", before), ("now", now)][:: 1 if round_index % 2 else -1]
                            for name, processor in order:
                                rate_now = rate(
                                    processor, path, args.num_videos, round_index, build_dataloader=dataloaders[name]
                                )
                                rates[name].append(rate_now)
                        medians = {name: float(np.median(values)) for name, values in rates.items()}
                        rows.append((path.name, backend, label, timing, medians["before"], medians["now"]))
                        loads.append(os.getloadavg()[0])
                        print(rows[-1], f"load {loads[-1]:.1f}", file=sys.stderr, flush=True)
        descriptions = [describe(path) for path in videos]

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {min(loads):.1f}-{max(loads):.1f} "
        f"during the run; torch {torch.__version__}, 1 thread; baseline {args.baseline}; median of {args.repeats} "
        f"interleaved rounds of {args.num_videos} videos.\n"
    )
    for description in descriptions:
        print(f"- {description}")
    print("\n| video | backend | configuration | timing | clips/s before | clips/s now | speed-up |")
    print("| --- | --- | --- | --- | ---: | ---: | ---: |")
    for video, backend, label, timing, before, now in rows:
        print(f"| {video} | {backend} | {label} | {timing} | {before:.2f} | {now:.2f} | {now / before:.2f}x |")
    print(f"\nnormalize_pixel_values of uint8 clips on this CPU: {normalization_ms_per_clip():.1f} ms per clip; with "
          f"random erasing of every clip: {normalization_ms_per_clip(erasing=True):.1f} ms per clip.")


if __name__ == "__main__":
    main()
