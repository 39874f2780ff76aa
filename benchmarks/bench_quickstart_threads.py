"""
How the quick start's training steps share a small CPU: torch threads x decoding workers, interleaved in one process,
optionally beside a busy loop (another job using one core).

    python benchmarks/bench_quickstart_threads.py [--steps 30] [--repeats 2] [--busy]

Each setting runs `--steps` steps of the quick start's model and data pipeline (`mae-st-pretrain` with no arguments:
its model, clips, batch, optimizer; synthetic videos written once to a temporary folder), through the package's
`build_video_dataloader`, after one warm-up step. Settings alternate (A B C D A B C D ...), so all see the same load.
Prints a Markdown table with the median seconds per step, wall and CPU (this process plus its finished decoding
workers), and the load average. `share_cpu_cores` picks the `torch x workers` row for the cores it finds.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from mae_st_training.arguments import QUICKSTART_ARGUMENTS, QUICKSTART_MODEL
from mae_st_training.run_pretraining import QUICKSTART_DATA
from modeling_mae_st import MAESTConfig, MAESTForPreTraining
from modeling_mae_st.data import build_video_dataloader, load_video_dataset
from modeling_mae_st.hub import default_video_processor
from modeling_mae_st.optimization import build_adamw, param_groups_weight_decay
from modeling_mae_st.synthetic import make_synthetic_pretraining_videos


SETTINGS = {  # name: (torch threads, decoding workers)
    "2 threads x 1 worker (torch's default thread count)": (2, 1),
    "1 thread x 1 worker (share_cpu_cores on 2 cores)": (1, 1),
    "2 threads x 0 workers": (2, 0),
    "1 thread x 0 workers": (1, 0),
}


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_setting(model, optimizer, dataset, processor, threads: int, workers: int, steps: int, seed: int):
    """(wall, cpu) seconds per step of `steps` steps after one warm-up step."""
    torch.set_num_threads(threads)
    loader = build_video_dataloader(
        dataset, processor, batch_size=QUICKSTART_ARGUMENTS["per_device_train_batch_size"], num_workers=workers,
        seed=seed,
    )  # fmt: skip
    batches = iter(loader)
    wall = cpu = 0.0
    for step in range(steps + 1):
        if step == 1:  # the first step starts the workers: not timed
            wall, cpu = time.perf_counter(), time.process_time() + children_cpu_seconds()
        pixel_values = processor.normalize_pixel_values(next(batches)["pixel_values"])
        loss = model(pixel_values).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.02)
        optimizer.step()
        optimizer.zero_grad()
    del batches  # the workers exit, so their CPU time is counted
    wall = time.perf_counter() - wall
    cpu = time.process_time() + children_cpu_seconds() - cpu
    return wall / steps, cpu / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--busy", action="store_true", help="Run a busy loop (one core) beside the measurements.")
    args = parser.parse_args()

    config = MAESTConfig.from_preset(QUICKSTART_ARGUMENTS["preset"], **QUICKSTART_MODEL)
    processor = default_video_processor(config).with_settings(short_side_size=config.image_size)  # as the script
    processor = processor.with_settings(mode="train", repeat_aug=4, repeat_aug_shared_window=False, return_uint8=True)
    busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"]) if args.busy else None
    try:
        with tempfile.TemporaryDirectory() as folder:
            num_videos = QUICKSTART_ARGUMENTS["per_device_train_batch_size"] * (args.steps + 1)  # one pass per setting
            make_synthetic_pretraining_videos(folder, num_videos=num_videos, seed=0, **QUICKSTART_DATA)
            dataset = load_video_dataset(folder, label_column=None)["train"]
            model = MAESTForPreTraining(config).train()
            optimizer = build_adamw(param_groups_weight_decay(model, 0.05), QUICKSTART_ARGUMENTS["learning_rate"])
            results = {name: [] for name in SETTINGS}
            for repeat in range(args.repeats):
                for name, (threads, workers) in SETTINGS.items():
                    results[name].append(
                        time_setting(model, optimizer, dataset, processor, threads, workers, args.steps, seed=repeat)
                    )
    finally:
        if busy is not None:
            busy.kill()
    machine = f"{platform.processor() or platform.machine()}, {len(os.sched_getaffinity(0))} cores"
    print(f"{machine}, busy loop: {args.busy}, load {os.getloadavg()[0]:.1f}, {args.steps} steps x {args.repeats}")
    print("| setting | wall s/step (median) | CPU s/step (median) |\n|---|---|---|")
    for name, runs in results.items():
        print(f"| {name} | {statistics.median(r[0] for r in runs):.3f} | {statistics.median(r[1] for r in runs):.3f} |")


if __name__ == "__main__":
    main()
