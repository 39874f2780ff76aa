"""
Model cards for MAE-ST repositories, built with `huggingface_hub.ModelCard` from `templates/model_card.md`.

Three kinds:

- `"pretrained"`: what our pretraining writes (a [`MAESTForPreTraining`] trained here);
- `"converted"`: a released official checkpoint converted with `convert_official_checkpoint` (license
  cc-by-nc-4.0 like the originals; the paper's accuracy, marked as reported and not measured here);
- `"classifier"`: a fine-tuned [`MAESTForVideoClassification`].

Training scripts pass what the run measured as a [`RunFacts`]; a fact left `None` is left out of the card.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import init_empty_weights
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .configuration_mae_st import PRESETS, MAESTConfig


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


@dataclass(frozen=True)
class ReleasedCheckpoint:
    """
    One officially released MAE-ST pretraining checkpoint.

    Args:
        name: the Hub name we give the converted model, e.g. `"mae-st-vit-l-k400-pyslowfast"`.
        preset: `"vit-b"`, `"vit-l"` or `"vit-h"`.
        dataset: pretraining data, e.g. `"Kinetics-400"`.
        url: the official download link.
        codebase: `"PySlowFast"` (MODEL_ZOO of projects/mae) or `"mae_st"` (facebookresearch/mae_st README).
        md5_prefix: the md5 prefix the official README publishes, `None` where it publishes none.
        reported_top1: Kinetics-400 top-1 (%) after fine-tuning, 16x4 clips, as the paper and model zoo report it;
            `None` where no number is published for this file.
        aliases: other official links to the same file (same md5 prefix).
    """

    name: str
    preset: str
    dataset: str
    url: str
    codebase: str
    md5_prefix: str | None
    reported_top1: float | None
    aliases: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def convert_command(self) -> str:
        return (
            f"mae-st-convert --checkpoint {self.filename} --output_dir {self.name}"
        )


_PYSLOWFAST = "https://dl.fbaipublicfiles.com/pyslowfast/masked_models/"
_MAE_ST = "https://dl.fbaipublicfiles.com/video-mae/pretrain/"
_MAE_ST_ALIAS = "https://dl.fbaipublicfiles.com/mae_st/pretrain/"

# PySlowFast projects/mae/README.md (Kinetics-400 table) and facebookresearch/mae_st README.md / FINETUNE.md. The
# mae_st files are "converted from the PySlowFast codebase", 90% mask ratio, 1600 effective epochs.
RELEASED_CHECKPOINTS: tuple[ReleasedCheckpoint, ...] = (
    ReleasedCheckpoint("mae-st-vit-b-k400-pyslowfast", "vit-b", "Kinetics-400",
                       _PYSLOWFAST + "VIT_B_16x4_MAE_PT.pyth", "PySlowFast", None, 81.3),
    ReleasedCheckpoint("mae-st-vit-l-k400-pyslowfast", "vit-l", "Kinetics-400",
                       _PYSLOWFAST + "VIT_L_16x4_MAE_PT.pyth", "PySlowFast", None, 84.8),
    ReleasedCheckpoint("mae-st-vit-h-k400-pyslowfast", "vit-h", "Kinetics-400",
                       _PYSLOWFAST + "VIT_H_16x4_MAE_PT_400e_85.1.pyth", "PySlowFast", None, 85.1),
    ReleasedCheckpoint("mae-st-vit-l-k400", "vit-l", "Kinetics-400", _MAE_ST + "mae_pretrain_vit_large_k400.pth",
                       "mae_st", "edf3a5", 84.8, (_MAE_ST_ALIAS + "vit_l/k400_400ep_rep4_mr9_16x4.pyth",)),
    ReleasedCheckpoint("mae-st-vit-h-k400", "vit-h", "Kinetics-400", _MAE_ST + "mae_pretrain_vit_huge_k400.pth",
                       "mae_st", "3d7f64", 85.1, (_MAE_ST_ALIAS + "vit_h/k400_400ep_rep4_mr9_16x4.pyth",)),
    ReleasedCheckpoint("mae-st-vit-l-k600", "vit-l", "Kinetics-600", _MAE_ST + "mae_pretrain_vit_large_k600.pth",
                       "mae_st", "9a9645", None, (_MAE_ST_ALIAS + "vit_l/k600_400ep_rep4_mr9_16x4.pyth",)),
    ReleasedCheckpoint("mae-st-vit-h-k600", "vit-h", "Kinetics-600", _MAE_ST + "mae_pretrain_vit_huge_k600.pth",
                       "mae_st", "27495e", None, (_MAE_ST_ALIAS + "vit_h/k600_400ep_rep4_mr9_16x4.pyth",)),
    ReleasedCheckpoint("mae-st-vit-l-k700", "vit-l", "Kinetics-700", _MAE_ST + "mae_pretrain_vit_large_k700.pth",
                       "mae_st", "cdbada", None, (_MAE_ST_ALIAS + "vit_l/k700_400ep_rep4_mr9_16x4.pyth",)),
    ReleasedCheckpoint("mae-st-vit-h-k700", "vit-h", "Kinetics-700", _MAE_ST + "mae_pretrain_vit_huge_k700.pth",
                       "mae_st", "4c4e3c", None, (_MAE_ST_ALIAS + "vit_h/k700_400ep_rep4_mr9_16x4.pyth",)),
)


def file_md5(path: str | Path, chunk_size: int = 1 << 22) -> str:
    """Hex md5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def find_released_checkpoint(path: str | Path, md5: str | None = None) -> ReleasedCheckpoint | None:
    """
    The release a local file is, or `None`: by the published md5 prefix first (the mae_st alias links share one file
    name across sizes), then by a file name unique to one release. `md5` is computed from `path` when not given and a
    published prefix exists to compare with.
    """
    md5 = md5 or file_md5(path)
    for release in RELEASED_CHECKPOINTS:
        if release.md5_prefix and md5.startswith(release.md5_prefix):
            return release
    name = Path(path).name
    matches = [r for r in RELEASED_CHECKPOINTS if r.md5_prefix is None and r.filename == name]
    return matches[0] if len(matches) == 1 else None


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
        loss_first, loss_last: used when there is no `loss_history`.
        accuracy_top1, accuracy_top5: in percent (0-100).
        hyperparameters: name -> value, printed as a table.
        hardware: e.g. `"1x NVIDIA H100 80GB"`, `"2 CPU cores"`.
        wall_time_seconds: training time.
        pictures: file names (relative to the repository) shown in the card, e.g. the reconstruction grid.
        base_model: Hub id of the pretrained model a classifier was fine-tuned from.
    """

    dataset: str | None = None
    dataset_id: str | None = None
    num_train_videos: int | None = None
    eval_dataset: str | None = None
    eval_split: str = "validation"
    loss_history: Sequence[float] | None = None
    loss_first: float | None = None
    loss_last: float | None = None
    accuracy_top1: float | None = None
    accuracy_top5: float | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    hardware: str | None = None
    wall_time_seconds: float | None = None
    pictures: Sequence[str] = ()
    base_model: str | None = None

    def loss_summary(self) -> dict[str, Any] | None:
        """`first`, `last`, `lowest` and up to ten evenly spaced `(index, loss)` points, or `None` without losses."""
        history = list(self.loss_history or [])
        if not history:
            if self.loss_first is None and self.loss_last is None:
                return None
            return {"first": self.loss_first, "last": self.loss_last, "lowest": None, "points": []}
        count = min(10, len(history))
        indices = sorted({round(i * (len(history) - 1) / max(count - 1, 1)) for i in range(count)})
        return {
            "first": history[0],
            "last": history[-1],
            "lowest": min(history),
            "points": [(i, history[i]) for i in indices],
        }


def count_parameters(config: MAESTConfig, kind: str) -> int:
    """Parameters of the model class a card kind describes, counted on the meta device (no memory, no time)."""
    from .modeling_mae_st import MAESTForPreTraining, MAESTForVideoClassification

    model_class = MAESTForVideoClassification if kind == "classifier" else MAESTForPreTraining
    with init_empty_weights():
        model = model_class(config)
    return sum(p.numel() for p in model.parameters())


def preset_name(config: MAESTConfig) -> str:
    """`"ViT-B"`, `"ViT-L"`, `"ViT-H"` for the official encoder sizes, else `"ViT (width W, depth D)"`."""
    for name, sizes in PRESETS.items():
        if all(getattr(config, key) == value for key, value in sizes.items()):
            return "ViT-" + name.split("-")[1].upper()
    return f"ViT (width {config.hidden_size}, depth {config.num_hidden_layers})"


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
        license: defaults to `"cc-by-nc-4.0"` for converted releases (the originals' license) and `"apache-2.0"`
            otherwise; set it to your data's terms when they are stricter.

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
    dataset = release.dataset if release else run.dataset
    eval_results = _eval_results(kind, dataset, run, release)
    datasets = [run.dataset_id] if run.dataset_id else ([dataset.lower()] if dataset else None)
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag="video-classification" if kind == "classifier" else "feature-extraction",
        license=license or ("cc-by-nc-4.0" if kind == "converted" else "apache-2.0"),
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
        release=release,
        run=run,
        loss=run.loss_summary(),
        wall_time=_format_duration(run.wall_time_seconds),
        auto_class=auto_class,
        paper_url=PAPER_URL,
        citation=CITATION,
    )


def _eval_results(
    kind: str, dataset: str | None, run: RunFacts, release: ReleasedCheckpoint | None
) -> list[EvalResult]:
    if release is not None and release.reported_top1 is not None:
        return [
            EvalResult(
                task_type="video-classification",
                dataset_type="kinetics-400",
                dataset_name="Kinetics-400 (after fine-tuning; reported in the paper, not measured here)",
                metric_type="accuracy",
                metric_name="top-1 accuracy",
                metric_value=release.reported_top1,
                verified=False,
                source_name=f"Feichtenhofer et al. 2022 / {release.codebase}",
                source_url=PAPER_URL,
            )
        ]
    if kind != "classifier":
        return []
    eval_dataset = run.eval_dataset or dataset or "unknown"
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


__all__ = [
    "CARD_KINDS",
    "RELEASED_CHECKPOINTS",
    "ReleasedCheckpoint",
    "RunFacts",
    "build_model_card",
    "file_md5",
    "find_released_checkpoint",
]


def describe_hardware(num_processes: int) -> str:
    """The hardware line of a run's card: `"8x NVIDIA H100 80GB HBM3"` or `"1 process(es) on 2 CPU cores"`."""
    if torch.cuda.is_available():
        return f"{num_processes}x {torch.cuda.get_device_name()}"
    return f"{num_processes} process(es) on {os.cpu_count()} CPU cores"
