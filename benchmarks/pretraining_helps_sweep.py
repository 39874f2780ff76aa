"""
Settings sweep for `pretraining_helps.py`, judged on validation clips only (the test clips are not rendered).

Each named setting is one `pretraining_helps.py` process (its own pretraining, then fine-tuning from it and from
scratch); the processes run side by side, and their results are merged into one JSON file, written again as each one
finishes, so a sweep stopped at a deadline still reports the settings that finished.

    python benchmarks/pretraining_helps_sweep.py --device cuda --output sweep.json                # all settings
    python benchmarks/pretraining_helps_sweep.py --settings patch4_mask0.9 patch8_mask0.75 --jobs 2
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


# The sweep's base: the benchmark's first configuration (8 frames of 32x32, 2x8x8 patches = 64 tokens, mask 0.9,
# 64 labeled clips per class, layer decays 0.75 and 1.0). Every setting differs from it only in the arguments listed
# (a repeated option's last value wins); the question each one asks is in its name.
BASE = ["--image_size", "32", "--num_train_per_class", "64", "--layer_decay", "0.75", "1.0"]
SETTINGS = {
    "patch8_mask0.9": [],  # the defaults: 6 visible tokens in pretraining
    "patch8_mask0.75": ["--mask_ratio", "0.75"],  # 16 visible tokens
    "patch4_mask0.9": ["--patch_size", "4"],  # 256 tokens, 25 visible
    "patch4_mask0.75": ["--patch_size", "4", "--mask_ratio", "0.75"],  # 64 visible
    "patch4_mask0.9_lr3e-4": ["--patch_size", "4", "--finetune_lr", "3e-4"],
    "size64_patch8_mask0.9": ["--image_size", "64"],  # 256 tokens of 8x8 at full render resolution
    "patch4_mask0.9_16_labels": ["--patch_size", "4", "--num_train_per_class", "16"],
    "patch4_mask0.9_12k_steps": ["--patch_size", "4", "--pretrain_steps", "12000"],
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=len(SETTINGS), help="Processes at a time.")
    parser.add_argument("--seeds", nargs="+", default=["0", "1"])
    parser.add_argument("--work_dir", default="/tmp/mae_st_pretraining_helps_sweep")
    parser.add_argument("--output", default="benchmarks/results/pretraining_helps_sweep.json")
    parser.add_argument("extra", nargs=argparse.REMAINDER, help="Arguments after -- go to every process.")
    args = parser.parse_args(argv)
    extra = [a for a in args.extra if a != "--"]
    script = Path(__file__).with_name("pretraining_helps.py")
    work_dir = Path(args.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    pending, running, merged = list(args.settings), {}, {}
    start = time.time()
    while pending or running:
        while pending and len(running) < args.jobs:
            name = pending.pop(0)
            command = [
                sys.executable, str(script), *BASE, *SETTINGS[name], "--device", args.device, "--seeds", *args.seeds,
                "--num_test_per_class", "0", "--work_dir", str(work_dir / name),
                "--output", str(work_dir / f"{name}.json"), *extra,
            ]  # fmt: skip
            log = open(work_dir / f"{name}.log", "w")
            running[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log)
            print(f"[{time.time() - start:.0f} s] started {name}", flush=True)
        time.sleep(2)
        for name, (process, log) in list(running.items()):
            result_file = work_dir / f"{name}.json"
            if result_file.is_file():
                merged[name] = json.loads(result_file.read_text())
            if process.poll() is None:
                continue
            log.close()
            del running[name]
            status = "finished" if process.returncode == 0 else f"FAILED ({process.returncode})"
            print(f"[{time.time() - start:.0f} s] {status} {name}", flush=True)
            if name in merged:
                print(json.dumps(merged[name]["summary"]), flush=True)
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(merged, indent=1) + "\n")


if __name__ == "__main__":
    main()
