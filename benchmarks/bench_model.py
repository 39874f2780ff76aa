"""
Training-step speed and memory of MAE-ST models: masked pretraining vs encoding every token, attention back-ends,
precision and torch.compile.

Measured numbers go to benchmarks/README.md with the machine; nothing here is asserted in tests.

    python benchmarks/bench_model.py --preset vit-l --batch_size 8 --mask_ratio 0.9 --attn sdpa --dtype bf16
    python benchmarks/bench_model.py --suite gpu --output results.json   # the set reported in the README
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from modeling_mae_st import MAESTConfig, MAESTForPreTraining


def measure(
    preset: str,
    batch_size: int,
    mask_ratio: float,
    attn: str,
    dtype: str,
    compile_model: bool = False,
    steps: int = 10,
    warmup: int = 3,
    num_frames: int = 16,
    image_size: int = 224,
) -> dict:
    """Time full training steps (forward, backward, AdamW) and return clips/s and peak memory."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    config = MAESTConfig.from_preset(preset, num_frames=num_frames, image_size=image_size, mask_ratio=mask_ratio)
    model = MAESTForPreTraining(config).to(device).train()
    model.set_attn_implementation(attn)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), fused=device.type == "cuda")
    step_model = torch.compile(model) if compile_model else model
    autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[dtype]
    pixel_values = torch.randn(batch_size, num_frames, 3, image_size, image_size, device=device)

    def step() -> float:
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = step_model(pixel_values).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    compile_start = time.perf_counter()
    for _ in range(warmup):
        step()
    warmup_seconds = time.perf_counter() - compile_start
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    result = dict(
        preset=preset, batch_size=batch_size, mask_ratio=mask_ratio, attn=attn, dtype=dtype, compile=compile_model,
        num_frames=num_frames, image_size=image_size, step_ms=1000 * seconds / steps,
        clips_per_s=batch_size * steps / seconds, warmup_s=warmup_seconds,
        peak_memory_gib=torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None,
        device=torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or "cpu",
    )
    del model, optimizer, step_model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return result


GPU_SUITE = [
    dict(preset="vit-l", batch_size=8, mask_ratio=0.9, attn="sdpa", dtype="bf16"),
    dict(preset="vit-l", batch_size=8, mask_ratio=0.0, attn="sdpa", dtype="bf16"),
    dict(preset="vit-l", batch_size=8, mask_ratio=0.9, attn="eager", dtype="bf16"),
    dict(preset="vit-l", batch_size=8, mask_ratio=0.9, attn="sdpa", dtype="fp32"),
    dict(preset="vit-b", batch_size=16, mask_ratio=0.9, attn="sdpa", dtype="bf16"),
    dict(preset="vit-b", batch_size=16, mask_ratio=0.9, attn="sdpa", dtype="bf16", compile_model=True),
    dict(preset="vit-h", batch_size=8, mask_ratio=0.9, attn="sdpa", dtype="bf16"),
]

CPU_SUITE = [
    dict(preset="vit-b", batch_size=1, mask_ratio=0.9, attn="sdpa", dtype="fp32", steps=2, warmup=1),
    dict(preset="vit-b", batch_size=1, mask_ratio=0.0, attn="sdpa", dtype="fp32", steps=2, warmup=1),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=["gpu", "cpu"], default=None, help="Run a predefined set of measurements.")
    parser.add_argument("--preset", default="vit-l")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--mask_ratio", type=float, default=0.9)
    parser.add_argument("--attn", default="sdpa", help="Attention implementation: sdpa, eager, flex_attention, ...")
    parser.add_argument("--dtype", choices=["bf16", "fp16", "fp32"], default="bf16")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--output", default=None, help="Append results as JSON lines to this file.")
    args = parser.parse_args()
    runs = {"gpu": GPU_SUITE, "cpu": CPU_SUITE}.get(args.suite) or [
        dict(preset=args.preset, batch_size=args.batch_size, mask_ratio=args.mask_ratio, attn=args.attn,
             dtype=args.dtype, compile_model=args.compile, steps=args.steps)
    ]
    for run in runs:
        try:
            result = measure(**run)
        except Exception as error:  # report and go on: one failing configuration should not hide the others
            result = dict(run, error=f"{type(error).__name__}: {error}")
        print(json.dumps(result), flush=True)
        if args.output:
            with open(args.output, "a") as handle:
                handle.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
