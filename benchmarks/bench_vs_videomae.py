"""
CPU training-step time of MAESTForPreTraining against transformers' VideoMAEForPreTraining (and, optionally, this
package at an earlier git revision), interleaved in one process so that a busy machine slows all of them alike.

ViT-B encoder, decoder 512 wide x 4 deep (16 heads, as MAE-ST's default; VideoMAE gets the same), 16x224^2 clips,
batch 1, fp32, sdpa, forward + backward (no optimizer). The floor is the step's counted FLOPs
(`modeling_mae_st.flops.count_training_flops`) at the best 2048^3 matmul rate measured in the same run.

    python benchmarks/bench_vs_videomae.py --threads 2 --rounds 3 --baseline_rev HEAD~1
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def import_package_at(revision: str, folder: Path):
    """This repository's `modeling_mae_st` at `revision`, importable beside the working tree's as `mae_st_at_rev`."""
    package = folder / "mae_st_at_rev"
    package.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", revision, "modeling_mae_st"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    for path in (folder / "modeling_mae_st").glob("*.py"):
        path.rename(package / path.name)
    (package / "__init__.py").write_text("")  # the submodules only: no Auto-class registration twice
    sys.path.insert(0, str(folder))
    configuration = importlib.import_module("mae_st_at_rev.configuration_mae_st")
    modeling = importlib.import_module("mae_st_at_rev.modeling_mae_st")
    return configuration.MAESTConfig, modeling.MAESTForPreTraining


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds; each times one step of each model.")
    parser.add_argument("--mask_ratio", type=float, default=0.9)
    parser.add_argument("--baseline_rev", default=None, help="Also time this git revision of modeling_mae_st.")
    args = parser.parse_args()

    import torch
    from transformers import VideoMAEConfig, VideoMAEForPreTraining

    from modeling_mae_st import MAESTConfig, MAESTForPreTraining
    from modeling_mae_st.flops import count_training_flops

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    pixel_values = torch.randn(1, 16, 3, 224, 224)
    sizes = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    models = {"mae_st": MAESTForPreTraining(MAESTConfig(**sizes)).train()}
    if args.baseline_rev:
        config_class, model_class = import_package_at(args.baseline_rev, Path(tempfile.mkdtemp()))
        models[f"mae_st@{args.baseline_rev}"] = model_class(config_class(**sizes)).train()
    videomae = VideoMAEForPreTraining(
        VideoMAEConfig(
            image_size=224, num_frames=16, tubelet_size=2, **sizes, decoder_hidden_size=512,
            decoder_num_hidden_layers=4, decoder_num_attention_heads=16, decoder_intermediate_size=2048,
            norm_pix_loss=True, attn_implementation="sdpa",
        )
    ).train()
    num_patches = 8 * 14 * 14

    def step(name: str) -> None:
        if name == "videomae":
            # the same random masking as MAE-ST's, as a boolean mask (VideoMAE takes the mask from the caller)
            masked = torch.zeros(1, num_patches, dtype=torch.bool)
            hidden = torch.rand(1, num_patches).argsort(dim=1)[0, int(num_patches * (1 - args.mask_ratio)) :]
            masked[0, hidden] = True
            model, loss = videomae, videomae(pixel_values, bool_masked_pos=masked).loss
        else:
            model = models[name]
            loss = model(pixel_values, mask_ratio=args.mask_ratio).loss
        loss.backward()
        model.zero_grad(set_to_none=True)

    names = [*models, "videomae"]
    for name in names:  # warm-up
        step(name)
    a = torch.randn(2048, 2048)
    wall = {name: [] for name in names}
    cpu = {name: [] for name in names}
    matmul_wall, matmul_cpu = [], []
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for _ in range(3):
            start, start_cpu = time.perf_counter(), time.process_time()
            a @ a
            matmul_wall.append(2 * 2048**3 / (time.perf_counter() - start))
            matmul_cpu.append(2 * 2048**3 / ((time.process_time() - start_cpu) / args.threads))
        for name in names:
            start, start_cpu = time.perf_counter(), time.process_time()
            step(name)
            wall[name].append(time.perf_counter() - start)
            cpu[name].append((time.process_time() - start_cpu) / args.threads)
    flops = count_training_flops(MAESTConfig(**sizes), args.mask_ratio)
    floor_wall, floor_cpu = flops / max(matmul_wall), flops / max(matmul_cpu)
    result = dict(
        threads=args.threads, mask_ratio=args.mask_ratio, load_average_before=load_before,
        load_average_after=os.getloadavg(), mae_st_gflop=flops / 1e9,
        best_matmul_gflops_wall=max(matmul_wall) / 1e9, best_matmul_gflops_per_thread_cpu_second=max(matmul_cpu) / 1e9,
        floor_s=floor_wall, models={},
    )
    print(f"load average {load_before} -> {result['load_average_after']}; {args.threads} threads; MAE-ST step "
          f"{flops / 1e9:.1f} GFLOP; best matmul {max(matmul_wall) / 1e9:.1f} GFLOP/s -> floor {floor_wall:.2f} s")
    for name in names:
        best, best_cpu = min(wall[name]), min(cpu[name])
        result["models"][name] = dict(wall_s=wall[name], cpu_s_per_thread=cpu[name])
        print(f"{name:22s} s/step {' '.join(f'{v:.2f}' for v in wall[name])}  best {best:.2f} "
              f"({best / floor_wall:.2f}x floor), median {statistics.median(wall[name]):.2f}; CPU s per thread "
              f"best {best_cpu:.2f} ({best_cpu / floor_cpu:.2f}x the CPU-time floor)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
