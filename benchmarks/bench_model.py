"""
Training-step speed, model-FLOPs utilization (MFU) and memory of MAE-ST pretraining, over batch sizes and mask ratios.

One step is what the training loop runs: forward, backward and fused AdamW (`build_adamw`), with no host sync inside
(the loss is read once, after the timed steps). FLOPs per clip are counted, not hand-written:
`modeling_mae_st.flops.count_training_flops` (forward and backward on the meta device, attention included; the
optimizer's element-wise work is not counted). MFU = counted FLOPs / step time / the device's peak: the data-sheet
dense peak of a known GPU (`modeling_mae_st.flops.PEAK_TFLOPS`), or on a CPU the best rate of a 2048^3 matrix product
measured here. Activation checkpointing recomputes the forward in the backward; those FLOPs are not credited (MFU,
not hardware utilization). Peak memory: `torch.cuda.max_memory_allocated` over the timed steps on a GPU; on a CPU,
one more step under `torch.profiler`'s memory timeline (`cpu_peak_memory_gib`). Either counts the parameters,
gradients and AdamW state beside the activations.

Measured numbers go to benchmarks/README.md with the machine; nothing here is asserted in tests.

    python benchmarks/bench_model.py --preset vit-l --batch_sizes 8 16 32 64 --mask_ratios 0 0.75 0.9 0.95
    python benchmarks/bench_model.py --preset vit-b --dtype fp32 --batch_sizes 1 --mask_ratios 0.9 --steps 3  # CPU
    python benchmarks/gpu_checks.py --output results.json   # the whole GPU suite, this sweep included
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

import torch

from modeling_mae_st import MAESTConfig, MAESTForPreTraining
from modeling_mae_st.flops import count_training_flops, measure_matmul_flops_per_second, peak_flops_per_second
from modeling_mae_st.optimization import build_adamw, param_groups_weight_decay


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def device_peak(device: torch.device, dtype: str) -> tuple[float | None, str]:
    """The peak FLOP/s that MFU divides by, and where it comes from."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        peak = peak_flops_per_second(name, "fp32" if dtype == "fp32" else "bf16")
        return peak, f"data sheet, {name}" if peak else f"unknown device {name}"
    matmul_dtype = torch.float32 if dtype == "fp32" else AUTOCAST_DTYPES[dtype]
    return measure_matmul_flops_per_second(device, matmul_dtype), f"best 2048^3 {dtype} matmul measured here"


def cpu_peak_memory_gib(run: Callable[[], object]) -> float | None:
    """
    Peak GiB of CPU tensors alive at once during `run()` (parameters, gradients, optimizer state and activations),
    from `torch.profiler`'s allocation events: the CPU's counterpart of `torch.cuda.max_memory_allocated`. Uses the
    profiler's memory timeline, a private API: `None` when this torch release does not have it.
    """
    from torch.profiler import ProfilerActivity, profile

    try:
        from torch.profiler._memory_profiler import MemoryProfileTimeline

        activities = [ProfilerActivity.CPU]
        with profile(activities=activities, profile_memory=True, record_shapes=True, with_stack=True) as prof:
            run()
        _, sizes = MemoryProfileTimeline(prof._memory_profile())._coalesce_timeline(torch.device("cpu"))
    except (ImportError, AttributeError, RuntimeError) as error:
        print(f"CPU peak memory not measured: {type(error).__name__}: {error}", flush=True)
        return None
    return max(sum(row) for row in sizes) / 2**30


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()} CPU, {torch.get_num_threads()} threads"


class StepBench:
    """One model and fused AdamW on `device`, timed over any batch size and mask ratio."""

    def __init__(
        self,
        preset: str,
        device: torch.device,
        attn: str = "sdpa",
        dtype: str = "bf16",
        compile_model: bool = False,
        activation_checkpointing: bool = False,
        num_frames: int = 16,
        image_size: int = 224,
        config_overrides: dict | None = None,
    ):
        """`config_overrides`: config values on top of the preset's (a toy model for `gpu_checks.py --smoke`)."""
        self.device, self.dtype, self.attn = device, dtype, attn
        self.compile_model, self.activation_checkpointing = compile_model, activation_checkpointing
        self.config = MAESTConfig.from_preset(
            preset, num_frames=num_frames, image_size=image_size, **(config_overrides or {})
        )
        self.preset = preset
        torch.manual_seed(0)
        self.model = MAESTForPreTraining(self.config).to(device).train()
        self.model.set_attn_implementation(attn)
        if activation_checkpointing:
            self.model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        self.optimizer = build_adamw(param_groups_weight_decay(self.model, 0.05), 1e-4)
        self.forward = torch.compile(self.model) if compile_model else self.model

    def step(self, pixel_values: torch.Tensor, mask_ratio: float) -> torch.Tensor:
        autocast_dtype = AUTOCAST_DTYPES[self.dtype]
        with torch.autocast(self.device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            loss = self.forward(pixel_values, mask_ratio=mask_ratio).loss
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def measure(self, batch_size: int, mask_ratio: float, steps: int = 10, warmup: int = 3) -> dict:
        """
        Time `steps` training steps after `warmup` (compilation happens there) on random clips. Returns the row
        the README's tables are made of; `"error"` instead of timings when the batch does not fit.
        """
        row = dict(
            preset=self.preset, batch_size=batch_size, mask_ratio=mask_ratio, attn=self.attn, dtype=self.dtype,
            compile=self.compile_model, activation_checkpointing=self.activation_checkpointing,
            num_frames=self.config.num_frames, image_size=self.config.image_size, device=device_name(self.device),
        )
        config = self.config
        shape = (batch_size, config.num_frames, config.num_channels, config.image_size, config.image_size)
        try:
            pixel_values = torch.randn(shape, device=self.device)
            start = time.perf_counter()
            for _ in range(warmup):
                self.step(pixel_values, mask_ratio)
            self.synchronize()
            row["warmup_s"] = time.perf_counter() - start
            if self.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(self.device)
            start = time.perf_counter()
            for _ in range(steps):
                loss = self.step(pixel_values, mask_ratio)
            self.synchronize()
            seconds = (time.perf_counter() - start) / steps
        except torch.OutOfMemoryError as error:
            self.optimizer.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
            return dict(row, error=f"out of memory: {str(error).splitlines()[0][:120]}")
        flops_per_clip = float(count_training_flops(config, mask_ratio))
        achieved = flops_per_clip * batch_size / seconds
        row.update(
            step_ms=1000 * seconds,
            clips_per_s=batch_size / seconds,
            gflop_per_clip=flops_per_clip / 1e9,
            achieved_tflops=achieved / 1e12,
            loss=float(loss),
            peak_memory_gib=torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else None,
        )
        if self.device.type == "cpu":  # one more step, under the profiler (slower; not timed)
            row["peak_memory_gib"] = cpu_peak_memory_gib(lambda: self.step(pixel_values, mask_ratio))
        return row


def sweep(
    preset: str,
    batch_sizes: list[int],
    mask_ratios: list[float],
    device: torch.device,
    steps: int = 10,
    warmup: int = 3,
    **bench_kwargs,
) -> list[dict]:
    """Every (mask ratio, batch size), smallest batch first; a mask ratio's larger batches are skipped after an OOM."""
    bench = StepBench(preset, device, **bench_kwargs)
    peak, peak_source = device_peak(device, bench.dtype)
    rows = []
    for mask_ratio in mask_ratios:
        for batch_size in sorted(batch_sizes):
            row = bench.measure(batch_size, mask_ratio, steps=steps, warmup=warmup)
            row.update(peak_tflops=peak / 1e12 if peak else None, peak_source=peak_source)
            if peak and "achieved_tflops" in row:
                row["mfu_percent"] = 100 * row["achieved_tflops"] * 1e12 / peak
            print(json.dumps(row), flush=True)
            rows.append(row)
            if "error" in row:
                break
    del bench
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def masking_speedups(rows: list[dict]) -> list[dict]:
    """Step-time ratio of mask 0 over each other mask ratio at equal batch (the paper's 4.1x is for mask 0.9)."""
    times = {(r["batch_size"], r["mask_ratio"]): r["step_ms"] for r in rows if "step_ms" in r}
    return [
        dict(batch_size=batch, mask_ratio=mask, speedup_over_mask_0=times[(batch, 0.0)] / step_ms)
        for (batch, mask), step_ms in sorted(times.items())
        if mask > 0 and (batch, 0.0) in times
    ]


def markdown_table(rows: list[dict]) -> str:
    lines = [
        "| model | batch | mask | precision | compile | ckpt | ms/step | clips/s | GFLOP/clip | TFLOP/s | MFU | peak memory |",
        "|---|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['preset']} | {r['batch_size']} | {r['mask_ratio']} | {r['dtype']} | {r['compile']} | "
                         f"{r['activation_checkpointing']} | {r['error'][:40]} | | | | | |")
            continue
        memory = f"{r['peak_memory_gib']:.1f} GiB" if r.get("peak_memory_gib") is not None else "-"
        mfu = f"{r['mfu_percent']:.1f}%" if r.get("mfu_percent") is not None else "-"
        lines.append(
            f"| {r['preset']} | {r['batch_size']} | {r['mask_ratio']} | {r['dtype']} | {r['compile']} | "
            f"{r['activation_checkpointing']} | {r['step_ms']:.1f} | {r['clips_per_s']:.1f} | {r['gflop_per_clip']:.0f} | "
            f"{r['achieved_tflops']:.2f} | {mfu} | {memory} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="vit-l", choices=["vit-b", "vit-l", "vit-h"])
    parser.add_argument("--batch_sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--mask_ratios", type=float, nargs="+", default=[0.0, 0.75, 0.9, 0.95])
    parser.add_argument("--attn", default="sdpa", help="Attention implementation: sdpa, eager, flex_attention, ...")
    parser.add_argument("--dtype", choices=list(AUTOCAST_DTYPES), default="bf16", help="autocast precision")
    parser.add_argument("--torch_compile", action="store_true", help="Time the torch.compile'd model.")
    parser.add_argument("--activation_checkpointing", action="store_true", help="Recompute each layer in the backward.")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per row (after --warmup).")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads on a CPU (default: torch's).")
    parser.add_argument("--output", default=None, help="Append the rows as JSON lines to this file.")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if any(not 0.0 <= m < 1.0 for m in args.mask_ratios):
        parser.error(f"--mask_ratios must be in [0, 1), got {args.mask_ratios}")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    rows = sweep(
        args.preset, args.batch_sizes, args.mask_ratios, device, steps=args.steps, warmup=args.warmup,
        attn=args.attn, dtype=args.dtype, compile_model=args.torch_compile,
        activation_checkpointing=args.activation_checkpointing,
    )
    print(markdown_table(rows))
    for speedup in masking_speedups(rows):
        print(json.dumps(speedup))
    if args.output:
        with open(args.output, "a") as handle:
            for row in rows:
                handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
