"""
Optimizer parameter groups and learning-rate schedules of the official MAE-ST recipes.

- [`param_groups_weight_decay`]: pretraining (facebookresearch/mae_st `util/misc.py::add_weight_decay`): no weight
  decay on biases and 1-d parameters (LayerNorm weights); position embeddings, cls and mask tokens *are* decayed.
- [`param_groups_layer_decay`]: fine-tuning (`util/lr_decay.py::param_groups_lrd`, after BEiT): the same split
  plus no decay on the cls token and position tables, and a learning-rate scale `layer_decay ** (depth + 1 - id)`
  per encoder layer id (embeddings 0, layer `i` gets `i + 1`, everything after the encoder `depth + 1`).
- [`get_warmup_cosine_schedule`]: linear warmup from 0 then half-cosine to `min_lr`, updated every optimizer step
  (`util/lr_sched.py::adjust_learning_rate`, which the official engines call every iteration).
- [`scaled_learning_rate`]: the linear scaling rule `lr = base_lr * effective_batch / 256`.

Every group carries an `lr_scale`; the schedule multiplies each group's initial `lr` (the peak lr times its scale).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR


def scaled_learning_rate(base_learning_rate: float, effective_batch_size: int) -> float:
    """
    The linear scaling rule of the official recipes: `base_learning_rate * effective_batch_size / 256`.

    `effective_batch_size` counts samples per optimizer step over all processes and accumulation steps
    (`batch_size * gradient_accumulation_steps * num_processes`). Pretraining counts videos, not the
    repeated-augmentation copies (`main_pretrain.py`); fine-tuning counts the copies too (`main_finetune.py`).
    """
    if effective_batch_size <= 0:
        raise ValueError(f"effective_batch_size must be positive, got {effective_batch_size}.")
    return base_learning_rate * effective_batch_size / 256


def _is_no_decay(name: str, param: nn.Parameter, no_weight_decay: Iterable[str]) -> bool:
    return param.ndim <= 1 or name.endswith(".bias") or any(name.endswith(skip) for skip in no_weight_decay)


def param_groups_weight_decay(
    model: nn.Module, weight_decay: float = 0.05, no_weight_decay: Iterable[str] = ()
) -> list[dict]:
    """
    Two parameter groups as the official pretraining: weight decay `weight_decay` for every matrix and tensor
    (linear and patch-embedding weights, position tables, cls and mask tokens), none for biases and 1-d parameters.

    Args:
        model: any module; frozen parameters (`requires_grad=False`) are left out.
        weight_decay: decay of the decayed group.
        no_weight_decay: parameter-name suffixes also left undecayed.

    Returns:
        `[{"params", "weight_decay": 0.0, "lr_scale": 1.0}, {"params", "weight_decay": weight_decay, "lr_scale": 1.0}]`.
    """
    no_weight_decay = tuple(no_weight_decay)
    groups = {
        "no_decay": {"params": [], "weight_decay": 0.0, "lr_scale": 1.0},
        "decay": {"params": [], "weight_decay": weight_decay, "lr_scale": 1.0},
    }
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups["no_decay" if _is_no_decay(name, param, no_weight_decay) else "decay"]["params"].append(param)
    return [groups["no_decay"], groups["decay"]]


# The fine-tuning recipe's `model.no_weight_decay()`: the cls token and the position tables.
FINETUNING_NO_WEIGHT_DECAY = ("cls_token", "position_embeddings.spatial", "position_embeddings.temporal",
                              "position_embeddings.cls_slot", "position_embeddings.joint")


def encoder_layer_id(name: str, num_hidden_layers: int) -> int:
    """
    Layer id of a parameter for layer-wise lr decay: 0 for the embeddings (patch projection, position tables, cls
    token), `i + 1` for encoder layer `i`, `num_hidden_layers + 1` for the rest (final norm, classifier).
    """
    name = name.removeprefix("mae_st.")
    if name.startswith("embeddings."):
        return 0
    match = re.match(r"layers\.(\d+)\.", name)
    if match:
        return int(match.group(1)) + 1
    return num_hidden_layers + 1


def param_groups_layer_decay(
    model: nn.Module,
    weight_decay: float = 0.05,
    layer_decay: float = 0.75,
    no_weight_decay: Iterable[str] = FINETUNING_NO_WEIGHT_DECAY,
) -> list[dict]:
    """
    Parameter groups for fine-tuning with layer-wise learning-rate decay (official `param_groups_lrd`).

    Args:
        model: an MAE-ST model (its config gives the depth); parameters are named as in [`MAESTForVideoClassification`].
        weight_decay: decay of the decayed groups.
        layer_decay: ratio of the learning rates of consecutive layers (0.75 in the official ViT-L recipe, 1.0 turns
            it off).
        no_weight_decay: parameter-name suffixes left undecayed besides biases and 1-d parameters.

    Returns:
        One group per (layer id, decay or not), each with `params`, `weight_decay`, `lr_scale` and `layer_id`;
        `lr_scale = layer_decay ** (num_hidden_layers + 1 - layer_id)`.
    """
    num_hidden_layers = model.config.num_hidden_layers
    no_weight_decay = tuple(no_weight_decay)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        layer_id = encoder_layer_id(name, num_hidden_layers)
        decayed = not _is_no_decay(name, param, no_weight_decay)
        group = groups.setdefault(
            (layer_id, decayed),
            {
                "params": [],
                "weight_decay": weight_decay if decayed else 0.0,
                "lr_scale": layer_decay ** (num_hidden_layers + 1 - layer_id),
                "layer_id": layer_id,
            },
        )
        group["params"].append(param)
    return [groups[key] for key in sorted(groups)]


def warmup_cosine_factor(
    step: int, num_warmup_steps: int, num_training_steps: int, min_lr_ratio: float = 0.0
) -> float:
    """
    The peak-lr multiplier at optimizer step `step` (0-based): `step / num_warmup_steps` during warmup, then
    `min_lr_ratio + (1 - min_lr_ratio) * (1 + cos(pi * progress)) / 2` with progress going from 0 to 1 over the
    remaining steps.
    """
    if step < num_warmup_steps:
        return step / num_warmup_steps
    progress = (step - num_warmup_steps) / max(1, num_training_steps - num_warmup_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def get_warmup_cosine_schedule(
    optimizer: torch.optim.Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    min_lr: float = 0.0,
) -> LambdaLR:
    """
    Linear warmup from 0 then half-cosine down to `min_lr`, one `scheduler.step()` per optimizer step.

    Each group's lr is its initial lr (`peak_lr * lr_scale`) times [`warmup_cosine_factor`]; `min_lr` is absolute for
    a group of scale 1 and scales with `lr_scale` like the official `adjust_learning_rate`.

    Args:
        optimizer: its groups' `lr` must be set to the peak lr (times `lr_scale`) before this call.
        num_warmup_steps: optimizer steps of linear warmup.
        num_training_steps: optimizer steps of the whole run.
        min_lr: the floor of the cosine (0 for pretraining, 1e-6 for fine-tuning in the official recipes).

    Raises:
        ValueError: when `num_training_steps` is not positive or warmup is longer than the run.
    """
    if num_training_steps <= 0:
        raise ValueError(f"num_training_steps must be positive, got {num_training_steps}.")
    if not 0 <= num_warmup_steps <= num_training_steps:
        raise ValueError(
            f"num_warmup_steps must be in [0, num_training_steps={num_training_steps}], got {num_warmup_steps}."
        )
    peak = max(group["lr"] / group.get("lr_scale", 1.0) for group in optimizer.param_groups)
    min_lr_ratio = min_lr / peak if peak > 0 else 0.0
    return LambdaLR(
        optimizer, lambda step: warmup_cosine_factor(step, num_warmup_steps, num_training_steps, min_lr_ratio)
    )


# Devices with a fused AdamW kernel in PyTorch (`torch.optim.AdamW(fused=True)`).
FUSED_ADAMW_DEVICES = ("cuda", "cpu", "xpu", "mps")


def build_adamw(
    param_groups: list[dict],
    learning_rate: float,
    betas: tuple[float, float] = (0.9, 0.95),
    fused: bool | None = None,
) -> torch.optim.AdamW:
    """
    AdamW over `param_groups`, each group starting at `learning_rate * lr_scale` (the schedule's peak).

    `fused`: update all parameters in one kernel instead of a loop of per-tensor operations (on this repository's
    2-core CPU, 6x faster per step; on GPUs it removes thousands of kernel launches). `None` (default) fuses when every
    parameter is a floating-point tensor on one of `FUSED_ADAMW_DEVICES`; the model may move to another of them
    afterwards (Accelerate's `prepare` does).
    """
    for group in param_groups:
        group["lr"] = learning_rate * group.get("lr_scale", 1.0)
    if fused is None:
        fused = all(
            param.is_floating_point() and param.device.type in FUSED_ADAMW_DEVICES
            for group in param_groups
            for param in group["params"]
        )
    return torch.optim.AdamW(param_groups, lr=learning_rate, betas=betas, fused=fused)


__all__ = [
    "FINETUNING_NO_WEIGHT_DECAY",
    "FUSED_ADAMW_DEVICES",
    "build_adamw",
    "encoder_layer_id",
    "get_warmup_cosine_schedule",
    "param_groups_layer_decay",
    "param_groups_weight_decay",
    "scaled_learning_rate",
    "warmup_cosine_factor",
]
