"""
Model cards for MAE-ST repositories, built with `huggingface_hub.ModelCard` from `templates/model_card.md`.

Three kinds:

- `"pretrained"`: what our pretraining writes (a [`MAESTForPreTraining`] trained here);
- `"converted"`: a released official checkpoint converted with `convert_official_checkpoint`; its facts (file,
  license as published, the accuracy published for it with its source and views) come from
  [`~modeling_mae_st.released_checkpoints.ReleasedCheckpoint`];
- `"classifier"`: a fine-tuned [`MAESTForVideoClassification`].

Training scripts pass what the run measured as a [`RunFacts`]; a fact left `None` is left out of the card.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .configuration_mae_st import PRESETS, MAESTConfig
from .released_checkpoints import ReleasedCheckpoint


TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / "model_card.md"
CARD_KINDS = ("pretrained", "converted", "classifier")
PAPER_URL = "https://arxiv.org/abs/2205.09113"
CITATION = """@article{feichtenhofer2022masked,
  title={Masked Autoencoders As Spatiotemporal Learners},
  author={Feichtenhofer, Christoph and Fan, Haoqi and Li, Yanghao and He, Kaiming},
  journal={arXiv preprint arXiv:2205.09113},
  year={2022}
}"""
TAGS = ["video", "mae-st", "masked-autoencoder", "self-supervised-learning", "vision-transformer"]


@dataclass
class RunFacts:
    """
    What a training run measured, for its card. Every field is optional; `None` fields are left out.

    Args:
        dataset: training data, e.g. `"Kinetics-400"` or `"synthetic moving squares"`.
        dataset_id: Hub dataset id for the metadata (`datasets:`), if there is one.
        num_train_videos: videos in the training split.
        eval_dataset: data the accuracy was measured on (defaults to `dataset`), and `eval_split`.
        loss_history: training loss at regular steps; the card summarises it (first, last, lowest, ten points).
        loss_steps: the optimizer step of each `loss_history` entry (without it, the card numbers the entries).
        accuracy_top1, accuracy_top5: in percent (0-100).
        hyperparameters: name -> value, printed as a table.
        hardware: e.g. `"1x NVIDIA H100 80GB"`, `"2 CPU cores"`.
        mixed_precision: Accelerate's `mixed_precision` of the run (`"no"`, `"fp16"`, `"bf16"`, `"fp8"`).
        wall_time_seconds: training time.
        pictures: file names (relative to the repository) shown in the card, e.g. the reconstruction grid.
        held_out_error: a pretraining run's error on held-out clips' hidden patches, as
            `visualization.HiddenPatchError` states it (against the visible-average predictor).
        base_model: Hub id of the pretrained model a classifier was fine-tuned from.
    """

    dataset: str | None = None
    dataset_id: str | None = None
    num_train_videos: int | None = None
    eval_dataset: str | None = None
    eval_split: str = "validation"
    loss_history: Sequence[float] | None = None
    loss_steps: Sequence[int] | None = None
    accuracy_top1: float | None = None
    accuracy_top5: float | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hardware: str | None = None
    mixed_precision: str | None = None
    wall_time_seconds: float | None = None
    pictures: Sequence[str] = ()
    held_out_error: str | None = None
    base_model: str | None = None

    def loss_summary(self) -> dict[str, Any] | None:
        """
        `first`, `last`, `lowest` and up to ten evenly spaced `(step, loss)` points (`step`: from `loss_steps`, else
        the entry's index), and `by_step` (whether they are optimizer steps), or `None` without losses.
        """
        history = list(self.loss_history or [])
        if not history:
            return None
        steps = list(self.loss_steps) if self.loss_steps is not None else None
        if steps is not None and len(steps) != len(history):
            raise ValueError(f"loss_steps has {len(steps)} entries for {len(history)} losses.")
        count = min(10, len(history))
        indices = sorted({round(i * (len(history) - 1) / max(count - 1, 1)) for i in range(count)})
        return {
            "first": history[0],
            "last": history[-1],
            "lowest": min(history),
            "points": [(steps[i] if steps else i, history[i]) for i in indices],
            "by_step": steps is not None,
        }


def count_parameters(config: MAESTConfig, kind: str) -> int:
    """Parameters of the model class a card kind describes, counted on the meta device (no memory, no time)."""
    from .modeling_mae_st import MAESTForPreTraining, MAESTForVideoClassification

    model_class = MAESTForVideoClassification if kind == "classifier" else MAESTForPreTraining
    with init_empty_weights():
        model = model_class(config)
    return sum(p.numel() for p in model.parameters())


def matching_preset(config: MAESTConfig) -> str | None:
    """The preset (`"vit-b"`, `"vit-l"`, `"vit-h"`) whose encoder sizes `config` has, or `None` for another size."""
    for name, sizes in PRESETS.items():
        if all(getattr(config, key) == value for key, value in sizes.items()):
            return name
    return None


def preset_name(config: MAESTConfig) -> str:
    """`"ViT-B"`, `"ViT-L"`, `"ViT-H"` for the official encoder sizes, else `"ViT (width W, depth D)"`."""
    preset = matching_preset(config)
    if preset is not None:
        return "ViT-" + preset.split("-")[1].upper()
    return f"ViT (width {config.hidden_size}, depth {config.num_hidden_layers})"


SPLIT_FOLDER_NAMES = ("train", "training", "val", "valid", "validation", "eval", "test")


def _public_name(name: str | None, dataset_id: str | None) -> tuple[str | None, bool]:
    """A run's dataset as a public card names it, and whether it is local data: a local path (given without a Hub
    id) by its folder's or file's name, not by the machine's path (a split's folder, `videos/train`, by the folder
    that holds it); any other name as it is."""
    local = name is not None and not dataset_id and ("/" in name or os.sep in name or Path(name).expanduser().exists())
    if not local:
        return name, False
    path = Path(name).expanduser()
    if path.name.lower() in SPLIT_FOLDER_NAMES:
        path = path.absolute().parent
    return path.name, True


def build_model_card(
    kind: str,
    config: MAESTConfig,
    repo_id: str,
    run: RunFacts | None = None,
    release: ReleasedCheckpoint | None = None,
    license: str | None = None,
) -> ModelCard:
    """
    Build the model card of an MAE-ST repository.

    Args:
        kind: `"pretrained"`, `"converted"` or `"classifier"`.
        config: the saved model's config (sizes, recipe and, for a classifier, `id2label`).
        repo_id: the Hub id the card shows in its loading snippet, e.g. `"me/mae-st-vit-b-k400"`.
        run: what the run measured (pretraining or fine-tuning); absent facts are left out.
        release: for `"converted"`, the [`ReleasedCheckpoint`] the weights came from (required).
        license: defaults to the release's `hub_license` for converted releases (the license published for the
            weights, `"unknown"` where none is) and `"apache-2.0"` otherwise; set it to your data's or base model's
            terms when they are stricter.

    Returns:
        A `huggingface_hub.ModelCard`; `card.save(folder / "README.md")` or pass it to
        [`~modeling_mae_st.hub.save_for_hub`].

    Raises:
        ValueError: an unknown `kind`, or `"converted"` without `release`.
    """
    if kind not in CARD_KINDS:
        raise ValueError(f"kind must be one of {CARD_KINDS}, got {kind!r}.")
    if kind == "converted" and release is None:
        raise ValueError("A 'converted' card needs the ReleasedCheckpoint it was converted from (release=...).")
    run = run or RunFacts()
    size = preset_name(config)
    dataset, local = _public_name(release.dataset if release else run.dataset, run.dataset_id)
    eval_dataset, _ = _public_name(run.eval_dataset or dataset, run.dataset_id)
    eval_results = _eval_results(kind, eval_dataset, run, release)
    # a Hub id, or a dataset's name ("Kinetics-400"); never local data's
    datasets = [run.dataset_id] if run.dataset_id else ([dataset.lower()] if dataset and not local else None)
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="video-classification" if kind == "classifier" else "feature-extraction",
        license=license or (release.hub_license if release else "apache-2.0"),
        tags=TAGS + ([kind] if kind != "classifier" else ["video-classification"]),
        datasets=datasets,
        base_model=run.base_model,
        model_name=repo_id.rsplit("/", 1)[-1],
        eval_results=eval_results or None,
    )
    auto_class = "AutoModelForVideoClassification" if kind == "classifier" else "AutoModelForPreTraining"
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        kind=kind,
        repo_id=repo_id,
        size=size,
        config=config,
        num_parameters_millions=f"{count_parameters(config, kind) / 1e6:.1f}",
        dataset=dataset,
        eval_dataset=eval_dataset,
        release=release,
        run=run,
        loss=run.loss_summary(),
        wall_time=_format_duration(run.wall_time_seconds),
        precision=describe_precision(run.mixed_precision) if run.mixed_precision else None,
        auto_class=auto_class,
        paper_url=PAPER_URL,
        citation=CITATION,
    )


def _eval_results(
    kind: str, eval_dataset: str | None, run: RunFacts, release: ReleasedCheckpoint | None
) -> list[EvalResult]:
    if release is not None and release.accuracy is not None:
        published = release.accuracy
        return [
            EvalResult(
                task_type="video-classification",
                dataset_type=published.dataset.lower(),
                dataset_name=(
                    f"{published.dataset} (after fine-tuning, {published.views}; published, not measured here)"
                ),
                metric_type="accuracy",
                metric_name="top-1 accuracy",
                metric_value=published.top1,
                verified=False,
                source_name=published.source,
                source_url=published.source_url,
            )
        ]
    if kind != "classifier":
        return []
    eval_dataset = eval_dataset or "unknown"
    results = []
    for name, value in (("top-1 accuracy", run.accuracy_top1), ("top-5 accuracy", run.accuracy_top5)):
        if value is not None:
            results.append(
                EvalResult(
                    task_type="video-classification",
                    dataset_type=run.dataset_id or eval_dataset.lower(),
                    dataset_name=eval_dataset,
                    dataset_split=run.eval_split,
                    metric_type="accuracy",
                    metric_name=name,
                    metric_value=round(float(value), 2),
                )
            )
    return results


def _format_duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


def describe_precision(mixed_precision: str) -> str:
    """
    What a run's log and card say about its precision, from Accelerate's `mixed_precision` (`"no"`, `"fp16"`,
    `"bf16"`, `"fp8"`). The official recipes train in fp32 (mae_st FINETUNE.md `--fp32`; PySlowFast's
    `TRAIN.MIXED_PRECISION` is off by default and in the fine-tuning configs), so a mixed-precision run says so.
    """
    if mixed_precision == "no":
        return "fp32 (no mixed precision), as the official recipes"
    return f"{mixed_precision} mixed precision (the official recipes train in fp32)"


def describe_hardware(num_processes: int) -> str:
    """The hardware line of a run's card: `"8x NVIDIA H100 80GB HBM3"` or `"1 process(es) on 2 CPU cores"`."""
    if torch.cuda.is_available():
        return f"{num_processes}x {torch.cuda.get_device_name()}"
    return f"{num_processes} process(es) on {os.cpu_count()} CPU cores"


__all__ = [
    "CARD_KINDS",
    "RunFacts",
    "build_model_card",
    "describe_hardware",
    "describe_precision",
]
