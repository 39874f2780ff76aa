"""
The officially released MAE-ST pretraining checkpoints: every fact this package states about them, in one place.

The model cards (`model_card.py`, `model_cards/render.py`), the converter and the README read these records; nothing
else writes a released file's URL, md5, sizes, accuracy or license. Each fact says where it is published:

- PySlowFast: facebookresearch/SlowFast `projects/mae/README.md` (Kinetics-400 table: top-1, "Flops (G) x views"
  `3 x 7`, configs) and `configs/masked_ssl/k400_VIT_{B,L,H}_16x4_{MAE_PT,FT}.yaml`; the repository's `README.md`
  ("PySlowFast is released under the Apache 2.0 license"), which publishes no separate license for the weights.
- mae_st: facebookresearch/mae_st `README.md` (links, md5 prefixes, "90% mask ratio and 1600 effective epochs,
  converted from the PySlowFast codebase", "This project is under the CC-BY-NC 4.0 license") and `FINETUNE.md`
  (alias links with the same md5 prefixes; "Acc@1 84.35" for its ViT-L command, evaluated in its "val" mode).

What is not published is `None` here and "not published" in the cards; no figure is copied from one file to another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from .configuration_mae_st import MAESTConfig


SLOWFAST_URL = "https://github.com/facebookresearch/SlowFast/blob/main/"
MAE_ST_URL = "https://github.com/facebookresearch/mae_st/blob/main/"

# The decoder every released file carries (all were trained with PySlowFast, whose layout the mae_st files keep):
# 512 wide, 4 deep (`MASK.DECODER_EMBED_DIM`, `MASK.DECODER_DEPTH` in the MAE_PT configs), heads width // 64 = 8
# (slowfast/models/masked.py), one joint decoder position table, the encoder's cls output carried into the decoder,
# targets from frames [::tubelet_size]. The encoder sizes are the presets' (`MVIT.EMBED_DIM/NUM_HEADS/DEPTH`).
RELEASED_DECODER = dict(
    decoder_hidden_size=512,
    decoder_num_hidden_layers=4,
    decoder_num_attention_heads=8,
    decoder_intermediate_size=2048,
    decoder_use_separate_position_embeddings=False,
    decoder_cls_from_encoder=True,
    target_frame_sampling="stride",
)


@dataclass(frozen=True)
class PublishedAccuracy:
    """
    A fine-tuning accuracy a source publishes for one released file (published, never measured by this package).

    Args:
        top1: top-1 accuracy in percent (0-100).
        dataset: what it was fine-tuned and evaluated on, e.g. `"Kinetics-400"`.
        views: the test views per video, e.g. `"3 spatial crops x 7 temporal clips"`.
        fine_tuning: the recipe that produced it, e.g. a config file.
        source: the document that publishes the figure, e.g. `"facebookresearch/SlowFast projects/mae/README.md"`.
        source_url: a link to that document.
    """

    top1: float
    dataset: str
    views: str
    fine_tuning: str
    source: str
    source_url: str


@dataclass(frozen=True)
class ReleasedCheckpoint:
    """
    One officially released MAE-ST pretraining checkpoint.

    Args:
        name: the Hub name we give the converted model, e.g. `"mae-st-vit-l-k400-pyslowfast"`.
        preset: the encoder size, a key of `MAESTConfig.from_preset` (`"vit-b"`, `"vit-l"`, `"vit-h"`).
        dataset: pretraining data, e.g. `"Kinetics-400"`.
        url: the official download link.
        codebase: `"PySlowFast"` (saved as `{"model_state": ...}` with PySlowFast names) or `"mae_st"` (the
            facebookresearch/mae_st release, "converted from the PySlowFast codebase"). The decoder layout is
            PySlowFast's for both ([`RELEASED_DECODER`]).
        md5_prefix: the md5 prefix the official README publishes, `None` where it publishes none.
        pretraining: the published pretraining facts, with their source.
        accuracy: the fine-tuning accuracy published for this file, `None` where none is.
        hub_license: the Hub metadata license id: the published license, or `"unknown"` where none is published.
        license_statement: what is published about the license, with its source (one sentence for the card).
        aliases: other official links to the same file (same published md5 prefix).
    """

    name: str
    preset: str
    dataset: str
    url: str
    codebase: str
    md5_prefix: str | None
    pretraining: str
    accuracy: PublishedAccuracy | None
    hub_license: str
    license_statement: str
    aliases: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def convert_command(self) -> str:
        return f"mae-st-convert --checkpoint {self.filename} --output_dir {self.name}"

    def config(self) -> MAESTConfig:
        """The `MAESTConfig` of this file: the preset's encoder and the released decoder, as the converter infers."""
        return MAESTConfig.from_preset(self.preset, **RELEASED_DECODER)


_PYSLOWFAST = "https://dl.fbaipublicfiles.com/pyslowfast/masked_models/"
_MAE_ST = "https://dl.fbaipublicfiles.com/video-mae/pretrain/"
_MAE_ST_ALIAS = "https://dl.fbaipublicfiles.com/mae_st/pretrain/"
_SLOWFAST_TABLE = "facebookresearch/SlowFast projects/mae/README.md (Kinetics-400 table)"
_PYSLOWFAST_LICENSE = (
    "No license is published for these weights; the SlowFast repository that links them is Apache-2.0 "
    "(SlowFast README.md: \"PySlowFast is released under the Apache 2.0 license\")."
)
_MAE_ST_LICENSE = "CC BY-NC 4.0 (facebookresearch/mae_st README.md: \"This project is under the CC-BY-NC 4.0 license\")."
_MAE_ST_PRETRAINING = (
    "90% mask ratio, 1600 effective epochs, trained with PySlowFast and converted (facebookresearch/mae_st README.md)"
)


def _pyslowfast(size: str, filename: str, top1: float) -> ReleasedCheckpoint:
    """A PySlowFast projects/mae release: its file, its MAE_PT/FT configs and its model-zoo accuracy."""
    return ReleasedCheckpoint(
        name=f"mae-st-vit-{size.lower()}-k400-pyslowfast",
        preset=f"vit-{size.lower()}",
        dataset="Kinetics-400",
        url=_PYSLOWFAST + filename,
        codebase="PySlowFast",
        md5_prefix=None,
        pretraining=f"90% mask ratio, SlowFast configs/masked_ssl/k400_VIT_{size}_16x4_MAE_PT.yaml",
        accuracy=PublishedAccuracy(
            top1=top1,
            dataset="Kinetics-400",
            views="3 spatial crops x 7 temporal clips per video",
            fine_tuning=f"PySlowFast's configs/masked_ssl/k400_VIT_{size}_16x4_FT.yaml",
            source=_SLOWFAST_TABLE,
            source_url=SLOWFAST_URL + "projects/mae/README.md",
        ),
        hub_license="unknown",
        license_statement=_PYSLOWFAST_LICENSE,
    )


def _mae_st(
    size: str, data: str, md5_prefix: str, accuracy: PublishedAccuracy | None = None
) -> ReleasedCheckpoint:
    """A facebookresearch/mae_st release (README.md link, FINETUNE.md alias with the same md5 prefix)."""
    long_size = {"l": "large", "h": "huge"}[size]
    return ReleasedCheckpoint(
        name=f"mae-st-vit-{size}-{data}",
        preset=f"vit-{size}",
        dataset=f"Kinetics-{data[1:]}",
        url=_MAE_ST + f"mae_pretrain_vit_{long_size}_{data}.pth",
        codebase="mae_st",
        md5_prefix=md5_prefix,
        pretraining=_MAE_ST_PRETRAINING,
        accuracy=accuracy,
        hub_license="cc-by-nc-4.0",
        license_statement=_MAE_ST_LICENSE,
        aliases=(_MAE_ST_ALIAS + f"vit_{size}/{data}_400ep_rep4_mr9_16x4.pyth",),
    )


# mae_st's FINETUNE.md prints this for its ViT-L command (listed under the K400 ViT-L links): 50 epochs, `--fp32`,
# evaluated by main_finetune.py on `Kinetics(mode="val")`, one clip per video with a random window and a random crop.
_MAE_ST_VIT_L_K400 = PublishedAccuracy(
    top1=84.35,
    dataset="Kinetics-400",
    views="1 clip per video, random window and crop (mae_st val mode)",
    fine_tuning="the mae_st FINETUNE.md ViT-L command (run_finetune.py, 50 epochs, --fp32)",
    source="facebookresearch/mae_st FINETUNE.md (\"Acc@1 84.35\")",
    source_url=MAE_ST_URL + "FINETUNE.md",
)

RELEASED_CHECKPOINTS: tuple[ReleasedCheckpoint, ...] = (
    _pyslowfast("B", "VIT_B_16x4_MAE_PT.pyth", 81.3),
    _pyslowfast("L", "VIT_L_16x4_MAE_PT.pyth", 84.8),
    _pyslowfast("H", "VIT_H_16x4_MAE_PT_400e_85.1.pyth", 85.1),
    _mae_st("l", "k400", "edf3a5", _MAE_ST_VIT_L_K400),
    _mae_st("h", "k400", "3d7f64"),
    _mae_st("l", "k600", "9a9645"),
    _mae_st("h", "k600", "27495e"),
    _mae_st("l", "k700", "cdbada"),
    _mae_st("h", "k700", "4c4e3c"),
)


def released_checkpoint(name: str) -> ReleasedCheckpoint:
    """
    The release with this Hub name, e.g. `"mae-st-vit-l-k400"`.

    Raises:
        KeyError: no release has that name (the message lists the names).
    """
    for release in RELEASED_CHECKPOINTS:
        if release.name == name:
            return release
    raise KeyError(f"No released checkpoint is named {name!r}; known: {[r.name for r in RELEASED_CHECKPOINTS]}.")


def file_md5(path: str | Path, chunk_size: int = 1 << 22) -> str:
    """Hex md5 of a file, read in chunks of `chunk_size` bytes."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def find_released_checkpoint(path: str | Path, md5: str | None = None) -> ReleasedCheckpoint | None:
    """
    The release a local file is, or `None`: by the published md5 prefix first (the mae_st alias links share one file
    name across sizes), then by a file name unique to one release without a published prefix. `md5` is computed from
    `path` when not given.
    """
    md5 = md5 or file_md5(path)
    for release in RELEASED_CHECKPOINTS:
        if release.md5_prefix and md5.startswith(release.md5_prefix):
            return release
    name = Path(path).name
    matches = [r for r in RELEASED_CHECKPOINTS if r.md5_prefix is None and r.filename == name]
    return matches[0] if len(matches) == 1 else None


__all__ = [
    "RELEASED_CHECKPOINTS",
    "RELEASED_DECODER",
    "PublishedAccuracy",
    "ReleasedCheckpoint",
    "file_md5",
    "find_released_checkpoint",
    "released_checkpoint",
]
