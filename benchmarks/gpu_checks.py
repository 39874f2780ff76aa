"""
Correctness checks of the GPU paths, run on a CUDA machine before the speed suite of bench_model.py:
fixture parity on the GPU in fp32, bf16 autocast against fp32, and agreement of the attention back-ends.

    python benchmarks/gpu_checks.py --fixtures ../shared/fixtures
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTForVideoClassification
from modeling_mae_st.convert_official_checkpoint import convert_official_checkpoint


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours.float().cpu() - reference.float().cpu()).abs().max() / reference.abs().max()).item()


def fixture_parity(fixtures: Path, device: torch.device) -> dict:
    results = {}
    for name, heads in [
        ("mae_st_official/pretrain_tiny_sep_cls.pt", dict(num_attention_heads=4, decoder_num_attention_heads=4)),
        ("mae_st_official/classify_tiny_sep_cls.pt", dict(num_attention_heads=4)),
        ("pyslowfast/pyslowfast_pretrain_tiny.pt", dict(num_attention_heads=4)),
        ("pyslowfast/pyslowfast_classify_tiny.pt", dict(num_attention_heads=4)),
    ]:
        fixture = torch.load(fixtures / name, weights_only=True)
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


def backend_agreement(device: torch.device) -> dict:
    config = MAESTConfig.from_preset("vit-b", num_labels=10)
    torch.manual_seed(0)
    model = MAESTForPreTraining(config).to(device).eval()
    pixel_values = torch.randn(2, 16, 3, 224, 224, device=device)
    noise = torch.rand(2, 1568, device=device)
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
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model(pixel_values, noise=noise)
        results["bf16_autocast_vs_fp32_logits"] = relative_error(out.logits, reference.logits)
        results["bf16_autocast_loss"] = out.loss.item()
        results["fp32_loss"] = reference.loss.item()
        bf16_model = MAESTForVideoClassification(config).to(device, torch.bfloat16).eval()
        results["bf16_weights_classifier_finite"] = bool(torch.isfinite(bf16_model(pixel_values.bfloat16()).logits).all())
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fixtures", type=Path, required=True)
    args = parser.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device("cuda")
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__}))
    print(json.dumps({"fixture_parity_fp32_on_gpu": fixture_parity(args.fixtures, device)}, indent=1))
    print(json.dumps({"backends": backend_agreement(device)}, indent=1))


if __name__ == "__main__":
    main()
