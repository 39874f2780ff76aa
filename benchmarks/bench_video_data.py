"""
Clips per second of decode + augment in one DataLoader worker (one process, one thread), for MAE-ST's video data.

    python benchmarks/bench_video_data.py [--repeats 8] [--demo ../shared/videos/demo.avi]

Rows: the official demo clip (853x480 MPEG-4 AVI) and a generated 320p H.264 clip (568x320, 10 s, B-frames), each
with decord and PyAV, `repeat_aug` 1 and 4 (official pretraining: 16 frames x stride 4, random resized crop to 224,
flip), the fine-tuning augmentation (RandAugment + random erasing), and decoding alone. The peer is transformers'
`load_video` (same 16 frames; its decord reader uses decord's automatic thread count) followed by
`VideoMAEVideoProcessor`, where they run (the processor needs torchvision). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from modeling_mae_st.synthetic import render_motion_video, write_video
from modeling_mae_st.video_decoding import decode_frames
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor
from modeling_mae_st.video_transforms import sample_clip_indices


DEMO = Path(__file__).resolve().parents[1].parent / "shared" / "videos" / "demo.avi"


def make_320p_h264(folder: Path) -> Path:
    """A 10-second 568x320 H.264 clip at 30 fps (default x264 preset: B-frames, keyframe every 250 frames)."""
    frames = render_motion_video("right", 300, (568, 320), np.random.default_rng(0))
    return write_video(folder / "synthetic_320p.mp4", frames, fps=30, codec="libx264")


def clips_per_second(step: Callable[[int], int], repeats: int) -> float:
    """
    Run `step(seed)` (returns the clips it made) once to warm up, then `repeats` times; clips per second of the
    median run, which other processes on a shared machine disturb less than the mean.
    """
    step(-1)
    rates = []
    for seed in range(repeats):
        start = time.perf_counter()
        clips = step(seed)
        rates.append(clips / (time.perf_counter() - start))
    return float(np.median(rates))


def ours(path: Path, backend: str, **settings) -> Callable[[int], int]:
    processor = MAESTVideoProcessor(mode="train", decoding_backend=backend, **settings)

    def step(seed: int) -> int:
        return processor.process_video(str(path), rng=random.Random(seed)).shape[0]

    return step


def decode_only(path: Path, backend: str) -> Callable[[int], int]:
    def step(seed: int) -> int:
        rng = random.Random(seed)
        decode_frames(str(path), lambda info: sample_clip_indices(info.num_frames, info.fps, rng=rng), backend)
        return 1

    return step


def transformers_peer(path: Path, backend: str) -> tuple[Callable[[int], int] | None, str]:
    """transformers' `load_video` + `VideoMAEVideoProcessor`, or the part of it that runs here and why."""
    from transformers.video_utils import load_video


    try:
        from transformers import VideoMAEVideoProcessor

        processor = VideoMAEVideoProcessor()
    except ImportError:
        processor, reason = None, "load_video only (VideoMAEVideoProcessor needs torchvision, not installed)"
    else:
        reason = "load_video + VideoMAEVideoProcessor"

    def step(seed: int) -> int:
        rng = random.Random(seed)

        def sample_indices(metadata, **kwargs):
            return sample_clip_indices(metadata.total_num_frames, metadata.fps, rng=rng)

        video, _ = load_video(str(path), backend=backend, sample_indices_fn=sample_indices)
        if processor is not None:
            processor(list(video), return_tensors="pt")
        return 1

    return step, reason


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=12, help="timed videos per row (after one warm-up)")
    parser.add_argument("--demo", type=Path, default=DEMO, help="the official demo clip")
    args = parser.parse_args()

    torch.set_num_threads(1)  # what a DataLoader worker gets
    with tempfile.TemporaryDirectory() as folder:
        videos = {"demo.avi (853x480 MPEG-4)": args.demo, "320p H.264 (568x320)": make_320p_h264(Path(folder))}
        rows = []
        for video_label, path in videos.items():
            for backend in ("decord", "pyav"):
                configs = {
                    "pretrain, repeat_aug=1": ours(path, backend, repeat_aug=1),
                    "pretrain, repeat_aug=4": ours(path, backend, repeat_aug=4),
                    "fine-tune (RandAugment + erasing), repeat_aug=1": ours(
                        path, backend, do_rand_augment=True, do_random_erasing=True
                    ),
                    "decode 16 frames only": decode_only(path, backend),
                }
                for config_label, step in configs.items():
                    rows.append((video_label, backend, config_label, clips_per_second(step, args.repeats)))
                peer, reason = transformers_peer(path, backend)
                peer_rate = clips_per_second(peer, args.repeats)
                rows.append((video_label, backend, f"transformers peer: {reason}", peer_rate))

    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; "
        f"torch {torch.__version__}, 1 thread; median of {args.repeats} videos per row.\n"
    )
    print("| video | backend | configuration | clips/s per worker |")
    print("| --- | --- | --- | ---: |")
    for video_label, backend, config_label, rate in rows:
        print(f"| {video_label} | {backend} | {config_label} | {rate:.2f} |")


if __name__ == "__main__":
    main()
