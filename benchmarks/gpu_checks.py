"""
The whole GPU suite in one run (6-8 minutes on one H100/H200): correctness first, then speed, MFU and memory.
Every section's result is written to `--output` as soon as it is done, so a run cut short keeps what it measured.

Sections, in order (the goals first, so that a run cut short by `--budget_s` loses the least):
1. `fixture_parity`: the four official fixtures on the GPU in fp32 (TF32 off).
2. `host_syncs`: CUDA host synchronizations inside one ViT-L training step (forward, backward, fused AdamW) and in
   finishing a fine-tuning batch on the device (normalizing uint8 clips, random erasing), counted with
   `torch.cuda.set_sync_debug_mode`; the goal is none.
3. `sweep_vit_l_bf16`: ViT-L, bf16 autocast, sdpa, batch 8/16/32/64 x mask 0/0.75/0.9/0.95: ms/step, clips/s,
   counted FLOPs, TFLOP/s, MFU, peak memory; and the masking speed-up over mask 0 at equal batch.
4. `compiled_vit_l_bf16`: the same with `torch.compile` at mask 0.9 and 0, at the batch with the best eager MFU.
5. `data_feed`: training clips per second that DataLoader workers on the machine's CPUs deliver (pretraining recipe,
   Kinetics-like H.264), beside the fastest ViT-L step measured above.
6. `activation_checkpointing`: ViT-L bf16 with and without checkpointing at two batches: memory saved, time paid.
7. `backends`: sdpa, flex attention and flash attention 2 against eager; bf16 autocast against fp32.
8. `compile_agreement`: `torch.compile`d and eager ViT-B steps give the same loss and gradients (fp32, TF32 off).
9. `fp32_vit_l`: ViT-L in fp32 without TF32, mask 0.9, batch 8 (MFU against the fp32 peak).

    python benchmarks/gpu_checks.py --output benchmarks/results/gpu_suite.json
    python benchmarks/gpu_checks.py --smoke --output /tmp/smoke.json   # this script itself, on any device (CPU too)

`--smoke` runs every section at toy sizes (a 2-layer model, 4 frames of 32x32, batches of 1-2, one timed step) on
the GPU if there is one, else on the CPU: a check of the script, which a test runs, not a measurement.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTForVideoClassification
from modeling_mae_st.convert_official_checkpoint import convert_official_checkpoint
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor
from modeling_mae_st.video_transforms import draw_random_erasing

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_model import StepBench, masking_speedups, markdown_table, sweep  # noqa: E402


REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sizes:
    """What the sections run: the recipe's clips and models ([`RECIPE`]), or toy ones ([`SMOKE`])."""

    num_frames: int = 16
    image_size: int = 224
    batch_sizes: tuple[int, ...] = (8, 16, 32, 64)  # the sweep's
    mask_ratios: tuple[float, ...] = (0.0, 0.75, 0.9, 0.95)
    small_batch: int = 8  # host_syncs and fp32_vit_l
    compare_batch: int = 4  # compile_agreement
    checkpointing: tuple[tuple[float, int], ...] = ((0.0, 16), (0.9, 64))  # (mask ratio, batch) pairs
    videos_per_worker: int = 40  # data_feed
    config_overrides: dict = field(default_factory=dict)  # on top of every preset

    def config(self, preset: str, **kwargs) -> MAESTConfig:
        return MAESTConfig.from_preset(
            preset, num_frames=self.num_frames, image_size=self.image_size, **self.config_overrides, **kwargs
        )

    def bench_kwargs(self) -> dict:
        """`StepBench` / `sweep` keyword arguments for these sizes."""
        return dict(num_frames=self.num_frames, image_size=self.image_size, config_overrides=self.config_overrides)

    def clips(self, batch_size: int, device: torch.device) -> torch.Tensor:
        return torch.randn(batch_size, self.num_frames, 3, self.image_size, self.image_size, device=device)

    def noise(self, config: MAESTConfig, batch_size: int, device: torch.device) -> torch.Tensor:
        """Masking noise, one value per patch of a clip."""
        return torch.rand(batch_size, config.num_patches, device=device)


RECIPE = Sizes()
SMOKE = Sizes(
    num_frames=4, image_size=32, batch_sizes=(1, 2), mask_ratios=(0.0, 0.9), small_batch=2, compare_batch=2,
    checkpointing=((0.0, 2), (0.9, 2)), videos_per_worker=8,  # two batches of 4: one timed
    config_overrides=dict(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, decoder_hidden_size=32,
        decoder_num_hidden_layers=1, decoder_num_attention_heads=4, decoder_intermediate_size=64, pred_t_dim=4,
    ),
)  # fmt: skip


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours.float().cpu() - reference.float().cpu()).abs().max() / reference.float().abs().max()).item()


def fixture_parity(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    results = {}
    for name, heads in [
        ("mae_st_official/pretrain_tiny_sep_cls.pt", dict(num_attention_heads=4, decoder_num_attention_heads=4)),
        ("mae_st_official/classify_tiny_sep_cls.pt", dict(num_attention_heads=4)),
        ("pyslowfast/pyslowfast_pretrain_tiny.pt", dict(num_attention_heads=4)),
        ("pyslowfast/pyslowfast_classify_tiny.pt", dict(num_attention_heads=4)),
    ]:
        fixture = torch.load(args.fixtures / name, weights_only=True)
        checkpoint = fixture["checkpoint"]
        model = convert_official_checkpoint(checkpoint.get("model", checkpoint.get("model_state")), **heads).to(device)
        pixel_values = fixture["pixel_values_bcthw"].transpose(1, 2).to(device)
        with torch.no_grad():
            if "logits" in fixture:
                results[name] = {"logits": relative_error(model(pixel_values).logits, fixture["logits"])}
            else:
                out = model(pixel_values, noise=fixture["noise"].to(device), mask_ratio=fixture["mask_ratio"])
                results[name] = {
                    "loss": relative_error(out.loss, fixture["loss"]),
                    "pred": relative_error(out.logits, fixture["pred"]),
                    "mask_equal": bool(torch.equal(out.mask.cpu(), fixture["mask"])),
                }
    return results


def backends(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    sizes: Sizes = args.sizes
    config = sizes.config("vit-b", num_labels=10)
    torch.manual_seed(0)
    model = MAESTForPreTraining(config).to(device).eval()
    pixel_values = sizes.clips(2, device)
    noise = sizes.noise(config, 2, device)
    results = {}
    with torch.no_grad():
        model.set_attn_implementation("eager")
        reference = model(pixel_values, noise=noise)
        for attn in ("sdpa", "flex_attention", "flash_attention_2"):
            try:
                model.set_attn_implementation(attn)
                out = model(pixel_values, noise=noise)
                results[f"{attn}_vs_eager_fp32"] = relative_error(out.logits, reference.logits)
            except Exception as error:  # report which back-ends this machine lacks
                results[f"{attn}_vs_eager_fp32"] = f"unavailable: {type(error).__name__}: {str(error)[:200]}"
        model.set_attn_implementation("sdpa")
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = model(pixel_values, noise=noise)
        results["bf16_autocast_vs_fp32_logits"] = relative_error(out.logits, reference.logits)
        results["bf16_autocast_loss"] = out.loss.item()
        results["fp32_loss"] = reference.loss.item()
        bf16_model = MAESTForVideoClassification(config).to(device, torch.bfloat16).eval()
        bf16_logits = bf16_model(pixel_values.bfloat16()).logits
        results["bf16_weights_classifier_finite"] = bool(torch.isfinite(bf16_logits).all())
    return results


def count_host_syncs(run: Callable[[], object]) -> list[str]:
    """The CUDA host synchronizations `run()` makes, as `torch.cuda.set_sync_debug_mode("warn")` reports them."""
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            run()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return [str(w.message) for w in caught if "synchroniz" in str(w.message).lower()]


def host_syncs(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    """One ViT-L step, and the finishing of a fine-tuning batch on the device: uint8 clips normalized and randomly
    erased (the fill drawn on the CPU and copied to the device)."""
    sizes: Sizes = args.sizes
    bench = StepBench("vit-l", device, dtype="bf16", **sizes.bench_kwargs())
    pixel_values = sizes.clips(sizes.small_batch, device)
    bench.step(pixel_values, 0.9)  # the first step initializes the optimizer state and the CUDA libraries
    processor = MAESTVideoProcessor(num_frames=sizes.num_frames, crop_size=sizes.image_size)
    shape = (sizes.small_batch, sizes.num_frames, 3, sizes.image_size, sizes.image_size)
    uint8_clips = torch.randint(0, 256, shape, dtype=torch.uint8, device=device)
    draws = [draw_random_erasing(sizes.image_size, sizes.image_size, 1.0, random.Random(i)) for i in range(shape[0])]
    processor.normalize_pixel_values(uint8_clips, draws)  # (warm-up, as the step)
    if device.type != "cuda":
        return {"syncs_in_one_step": None, "note": f"both ran; host syncs are counted on a GPU, not a {device}"}
    step = count_host_syncs(lambda: bench.step(pixel_values, 0.9))
    finishing = count_host_syncs(lambda: processor.normalize_pixel_values(uint8_clips, draws))
    return {
        "syncs_in_one_step": len(step),
        "messages": step[:10],
        "syncs_in_finishing_a_fine_tuning_batch": len(finishing),
        "finishing_messages": finishing[:10],
    }


def compile_agreement(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    sizes: Sizes = args.sizes
    config = sizes.config("vit-b")
    torch.manual_seed(0)
    model = MAESTForPreTraining(config).to(device).train()
    pixel_values = sizes.clips(sizes.compare_batch, device)
    noise = sizes.noise(config, sizes.compare_batch, device)
    gradients = {}
    for name, forward in (("eager", model), ("compiled", torch.compile(model))):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        loss = forward(pixel_values, noise=noise).loss
        loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        gradients[name] = (loss.detach(), {n: p.grad.detach().clone() for n, p in model.named_parameters()})
        gradients[name + "_first_step_s"] = time.perf_counter() - start
    (eager_loss, eager_grads), (compiled_loss, compiled_grads) = gradients["eager"], gradients["compiled"]
    # against the largest gradient anywhere: some gradients are 0 in exact arithmetic (the key bias's: softmax ignores
    # a shift), so their own scale is rounding noise
    scale = max(g.abs().max() for g in eager_grads.values())
    errors = {n: ((compiled_grads[n] - g).abs().max() / scale).item() for n, g in eager_grads.items()}
    worst = max(errors, key=errors.get)
    return {
        "loss_relative_error": relative_error(compiled_loss, eager_loss),
        "worst_gradient": {"parameter": worst, "max_error_over_largest_gradient": errors[worst]},
        "compile_first_step_s": gradients["compiled_first_step_s"],
    }


def sweep_vit_l_bf16(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    sizes: Sizes = args.sizes
    rows = sweep("vit-l", list(sizes.batch_sizes), list(sizes.mask_ratios), device, steps=args.steps, dtype="bf16",
                 **sizes.bench_kwargs())  # fmt: skip
    state["eager_rows"] = rows
    print(markdown_table(rows), flush=True)
    return {"rows": rows, "masking_speedups": masking_speedups(rows)}


def compiled_vit_l_bf16(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    measured = [r for r in state.get("eager_rows", []) if r["mask_ratio"] == 0.9 and "mfu_percent" in r]
    sizes: Sizes = args.sizes
    fallback = sizes.batch_sizes[len(sizes.batch_sizes) // 2]  # without the eager sweep: 32 (1 or 2 with --smoke)
    batch = max(measured, key=lambda r: r["mfu_percent"])["batch_size"] if measured else fallback
    rows = sweep("vit-l", [batch], [0.0, 0.9], device, steps=args.steps, dtype="bf16", compile_model=True,
                 **sizes.bench_kwargs())  # fmt: skip
    state["compiled_rows"] = rows
    print(markdown_table(rows), flush=True)
    return {"batch_size": batch, "rows": rows, "masking_speedups": masking_speedups(rows)}


def data_feed(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    """
    Training clips per second that DataLoader workers on this machine's CPUs deliver (the pretraining recipe:
    repeat_aug 4, uint8 clips, PyAV, pinned memory) from a Kinetics-like H.264 clip, beside the ViT-L steps' rates:
    whether the CPUs can feed the GPU.
    """
    import os
    import tempfile

    from bench_video_data import make_kinetics_like_h264, worker_rate

    from modeling_mae_st.data import share_cpu_cores
    from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor

    # all cores but two (the training process and its pin-memory thread), fitted as the training scripts fit them
    threads = torch.get_num_threads()  # (which share_cpu_cores lowers with the model on the CPU: --smoke)
    num_workers, _ = share_cpu_cores(max(1, len(os.sched_getaffinity(0)) - 2), model_on_cpu=device.type == "cpu")
    torch.set_num_threads(threads)
    processor = MAESTVideoProcessor(mode="train", repeat_aug=4, return_uint8=True)
    with tempfile.TemporaryDirectory() as folder:
        path = make_kinetics_like_h264(Path(folder))
        num_videos = args.sizes.videos_per_worker * num_workers
        rate = worker_rate(processor, path, num_videos, seed=0, num_workers=num_workers, batch_size=4,
                           pin_memory=device.type == "cuda")  # fmt: skip
    steps = [
        dict(compile=r["compile"], batch_size=r["batch_size"], clips_per_s=r["clips_per_s"])
        for r in state.get("eager_rows", []) + state.get("compiled_rows", [])
        if r.get("mask_ratio") == 0.9 and "clips_per_s" in r
    ]
    fastest = max(steps, key=lambda r: r["clips_per_s"]) if steps else None
    return {
        "cpu_cores": len(os.sched_getaffinity(0)), "num_workers": num_workers, "clips_per_s": rate,
        "clips_per_s_per_worker": rate / num_workers, "fastest_vit_l_step_mask_0.9": fastest,
        "feeds_fraction_of_fastest_step": rate / fastest["clips_per_s"] if fastest else None,
    }


def activation_checkpointing(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    sizes: Sizes = args.sizes
    results = []
    for mask_ratio, batch in sizes.checkpointing:
        pair = {}
        for checkpointing in (False, True):
            bench = StepBench(
                "vit-l", device, dtype="bf16", activation_checkpointing=checkpointing, **sizes.bench_kwargs()
            )
            pair[checkpointing] = bench.measure(batch, mask_ratio, steps=args.steps)
            del bench
            if device.type == "cuda":
                torch.cuda.empty_cache()
        plain, checkpointed = pair[False], pair[True]
        row = {"mask_ratio": mask_ratio, "batch_size": batch, "without": plain, "with": checkpointed}
        if plain.get("peak_memory_gib") is not None and checkpointed.get("peak_memory_gib") is not None:
            row["memory_saved_gib"] = plain["peak_memory_gib"] - checkpointed["peak_memory_gib"]
            row["time_cost"] = checkpointed["step_ms"] / plain["step_ms"]
        print(json.dumps({k: v for k, v in row.items() if k not in ("without", "with")}), flush=True)
        results.append(row)
    return {"pairs": results}


def fp32_vit_l(args: argparse.Namespace, device: torch.device, state: dict) -> dict:
    sizes: Sizes = args.sizes
    return {"rows": sweep("vit-l", [sizes.small_batch], [0.9], device, steps=args.steps, dtype="fp32",
                          **sizes.bench_kwargs())}  # fmt: skip


# The goals first: a run cut short by --budget_s loses the least important sections.
SECTIONS: list[tuple[str, Callable[[argparse.Namespace, torch.device, dict], dict]]] = [
    ("fixture_parity", fixture_parity),
    ("host_syncs", host_syncs),
    ("sweep_vit_l_bf16", sweep_vit_l_bf16),
    ("compiled_vit_l_bf16", compiled_vit_l_bf16),
    ("data_feed", data_feed),
    ("activation_checkpointing", activation_checkpointing),
    ("backends", backends),
    ("compile_agreement", compile_agreement),
    ("fp32_vit_l", fp32_vit_l),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fixtures", type=Path, default=REPO_ROOT.parent / "shared" / "fixtures")
    parser.add_argument("--output", type=Path, required=True, help="JSON file, rewritten after every section.")
    parser.add_argument("--steps", type=int, default=10, help="Timed steps per speed row.")
    parser.add_argument("--budget_s", type=float, default=480.0, help="Skip the sections left after this many seconds.")
    parser.add_argument("--sections", nargs="+", default=[name for name, _ in SECTIONS],
                        choices=[name for name, _ in SECTIONS])
    parser.add_argument("--smoke", action="store_true",
                        help="Every section at toy sizes with one timed step, on the GPU or else the CPU: checks the "
                             "script, measures nothing.")  # fmt: skip
    args = parser.parse_args()
    if not torch.cuda.is_available() and not args.smoke:
        parser.error("gpu_checks.py needs a CUDA device; on a CPU run bench_model.py (or check this script: --smoke)")
    args.sizes = SMOKE if args.smoke else RECIPE
    if args.smoke:
        args.steps = 1
    if "fixture_parity" in args.sections and not args.fixtures.is_dir():
        parser.error(f"--fixtures {args.fixtures} is not a folder (the shared fixtures/ with mae_st_official/)")
    # fp32 means fp32: TF32 would hide a precision bug in the correctness sections and inflate the fp32 speed
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    import transformers

    from bench_model import device_name

    results = {
        "environment": {
            "device": device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__, "smoke": args.smoke,
        },
    }
    state: dict = {}
    start = time.perf_counter()
    for name, section in SECTIONS:
        if name not in args.sections:
            continue
        if time.perf_counter() - start > args.budget_s:
            results[name] = {"skipped": f"time budget of {args.budget_s:.0f} s spent"}
        else:
            section_start = time.perf_counter()
            try:
                results[name] = section(args, device, state)
            except Exception as error:  # report and go on: one failing section should not hide the others
                results[name] = {"error": f"{type(error).__name__}: {str(error)[:500]}"}
            results[name]["seconds"] = time.perf_counter() - section_start
        print(json.dumps({name: results[name].get("seconds", results[name])}), flush=True)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=1))
    print(f"results in {args.output} after {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
