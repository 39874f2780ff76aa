"""
Convert official MAE-ST checkpoints into `save_pretrained` folders.

Supported layouts, recognised from their keys:

- facebookresearch/mae_st pretraining (`models_mae.MaskedAutoencoderViT`, saved as `{"model": ...}`): separate or
  fused q/k/v, separate or joint position tables, with or without a cls token.
- facebookresearch/mae_st fine-tuning (`models_vit.VisionTransformer`, `head.*`).
- PySlowFast MAE pretraining (`MaskMViT`, saved as `{"model_state": ...}`), which is how the released Kinetics
  checkpoints were trained: fused `qkv`, decoder blocks under `pred_head.transforms.0.{i}`, the decoder norm as the
  last element of `pred_head.transforms.0`, `pred_head.projections.0` as the pixel predictor, one flat
  `decoder_pos_embed` with a cls slot, the encoder's cls output carried into the decoder, and targets taken from
  frames `[::tubelet_size]`. The released mae_st files mix mae_st encoder names with this decoder layout.
- PySlowFast fine-tuning (`MViT` in ViT mode, `head.projection.*`).

Every size the tensors reveal is inferred; what they cannot reveal (attention heads, loss options) comes from
arguments whose defaults are the released models'. Conversion is strict: a key that was not used, or a weight that
was not filled, is an error that names it.

    python -m modeling_mae_st.convert_official_checkpoint --checkpoint VIT_L_16x4_MAE_PT.pyth --output_dir mae-st-vit-l

The output folder is a complete Hub repository (`hub.save_for_hub`): safetensors weights, config, the video processor
config, the code files with `auto_map` (loads with `trust_remote_code=True` where this package is not installed) and,
for a released checkpoint (recognised by its published md5 prefix or file name), a model card. `--push_to_hub`
uploads it.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from .configuration_mae_st import PRESETS, MAESTConfig
from .hub import default_video_processor, push_to_hub, save_for_hub
from .model_card import build_model_card
from .modeling_mae_st import MAESTForPreTraining, MAESTForVideoClassification, MAESTModel, MAESTPreTrainedModel
from .released_checkpoints import find_released_checkpoint


logger = logging.getLogger(__name__)

WRAPPER_PREFIXES = ("module.", "_orig_mod.")

_BLOCK_RENAMES = {
    "norm1": "layernorm_before",
    "norm2": "layernorm_after",
    "attn.q": "attention.q_proj",
    "attn.k": "attention.k_proj",
    "attn.v": "attention.v_proj",
    "attn.proj": "attention.o_proj",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}

_ENCODER_RENAMES = {
    "cls_token": "embeddings.cls_token",
    "pos_embed_spatial": "embeddings.position_embeddings.spatial",
    "pos_embed_temporal": "embeddings.position_embeddings.temporal",
    "pos_embed_class": "embeddings.position_embeddings.cls_slot",
    "pos_embed": "embeddings.position_embeddings.joint",
    "patch_embed.proj.weight": "embeddings.patch_embeddings.projection.weight",
    "patch_embed.proj.bias": "embeddings.patch_embeddings.projection.bias",
    "norm.weight": "layernorm.weight",
    "norm.bias": "layernorm.bias",
}

_DECODER_RENAMES = {
    "decoder_embed.weight": "decoder_embed.weight",
    "decoder_embed.bias": "decoder_embed.bias",
    "mask_token": "mask_token",
    "decoder_cls_token": "decoder_cls_token",
    "decoder_pos_embed_spatial": "position_embeddings.spatial",
    "decoder_pos_embed_temporal": "position_embeddings.temporal",
    "decoder_pos_embed_class": "position_embeddings.cls_slot",
    "dec_pos_embed_spatial": "position_embeddings.spatial",
    "dec_pos_embed_temporal": "position_embeddings.temporal",
    "dec_pos_embed_class": "position_embeddings.cls_slot",
    "decoder_pos_embed": "position_embeddings.joint",
    "decoder_norm.weight": "decoder_norm.weight",
    "decoder_norm.bias": "decoder_norm.bias",
    "decoder_pred.weight": "decoder_pred.weight",
    "decoder_pred.bias": "decoder_pred.bias",
    "pred_head.projections.0.weight": "decoder_pred.weight",
    "pred_head.projections.0.bias": "decoder_pred.bias",
}

_HEAD_RENAMES = {
    "head.weight": "classifier.weight",
    "head.bias": "classifier.bias",
    "head.projection.weight": "classifier.weight",
    "head.projection.bias": "classifier.bias",
}


class CheckpointConversionError(ValueError):
    """A checkpoint that cannot be converted exactly; the message names the file and the keys at fault."""


def load_official_state_dict(path: str | Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """
    Read an official `.pth`/`.pyth` file and return its model state dict with wrapper prefixes (`module.`,
    `_orig_mod.`) stripped.

    The file is read with `torch.load(..., weights_only=True)`. A file that needs full unpickling is refused unless
    `allow_pickle` (only for files you trust: unpickling can run arbitrary code).

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointConversionError: the file cannot be read safely or holds no state dict.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Checkpoint {path} does not exist.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as error:
        raise CheckpointConversionError(
            f"{path} cannot be loaded with torch.load(weights_only=True): it needs full unpickling ({error}). "
            "If you trust the file, pass --allow_pickle (allow_pickle=True)."
        ) from error
    except (RuntimeError, EOFError) as error:
        raise CheckpointConversionError(f"{path} is not a readable PyTorch checkpoint: {error}") from error
    state_dict = checkpoint
    if isinstance(checkpoint, dict):
        for key in ("model", "model_state", "state_dict"):
            if isinstance(checkpoint.get(key), dict):
                state_dict = checkpoint[key]
                break
    if not isinstance(state_dict, dict) or not all(torch.is_tensor(v) for v in state_dict.values()):
        raise CheckpointConversionError(
            f"{path} holds no state dict: expected a dict of tensors, or a dict with one under 'model' or "
            f"'model_state'; top-level keys are {sorted(checkpoint) if isinstance(checkpoint, dict) else type(checkpoint)}."
        )
    return strip_wrapper_prefixes(state_dict)


def strip_wrapper_prefixes(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove prefixes added by DDP (`module.`), `torch.compile` (`_orig_mod.`) and similar wrappers."""
    stripped = {}
    for key, value in state_dict.items():
        changed = True
        while changed:
            changed = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key = key[len(prefix) :]
                    changed = True
        stripped[key] = value
    return stripped


def _count_blocks(state_dict: dict[str, torch.Tensor], pattern: str) -> int:
    indices = {int(m.group(1)) for key in state_dict if (m := re.match(pattern, key))}
    if indices and indices != set(range(len(indices))):
        raise CheckpointConversionError(f"Blocks matching {pattern!r} are not numbered 0..N-1: {sorted(indices)}.")
    return len(indices)


def detect_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """
    Recognise the checkpoint's layout from its keys.

    Returns a dict with `task` ("pretraining", "classification" or "encoder"), `decoder_layout` ("mae_st",
    "pyslowfast" or None) and `fused_qkv`.
    """
    if "patch_embed.proj.weight" not in state_dict:
        raise CheckpointConversionError(
            "Not an MAE-ST checkpoint: no 'patch_embed.proj.weight'. Keys start with: "
            f"{sorted(state_dict)[:8]}"
        )
    has_head = "head.weight" in state_dict or "head.projection.weight" in state_dict
    decoder_layout = None
    if any(key.startswith("pred_head.") for key in state_dict):
        decoder_layout = "pyslowfast"
    elif any(key.startswith("decoder_blocks.") or key.startswith("decoder_pred.") for key in state_dict):
        decoder_layout = "mae_st"
    if decoder_layout and has_head:
        raise CheckpointConversionError("Checkpoint holds both a decoder and a classification head.")
    task = "pretraining" if decoder_layout else ("classification" if has_head else "encoder")
    fused_qkv = any(key.endswith("attn.qkv.weight") for key in state_dict)
    return {"task": task, "decoder_layout": decoder_layout, "fused_qkv": fused_qkv}


def infer_config(
    state_dict: dict[str, torch.Tensor],
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
    num_frames: int = 16,
    **overrides: Any,
) -> MAESTConfig:
    """
    Build the `MAESTConfig` an official state dict was made with. Widths, depths, patch and tubelet sizes, frames and
    image size (from separate position tables; joint tables need `num_frames`), cls token, qkv bias, position
    embedding kinds, `pred_t_dim` and the number of classes come from the tensors.

    Args:
        num_attention_heads: encoder heads; default: the official preset of that width (12 for 768, 16 for 1024 and
            1280), else width // 64.
        decoder_num_attention_heads: default: width // 64 for PySlowFast decoders (8 for the released 512-wide
            ones), 16 for mae_st decoders (the official constructor's default).
        num_frames: frames per clip, used only with a joint position table, which does not separate time from space.
        overrides: any other config value (`norm_pix_loss`, `mask_ratio`, `target_frame_sampling`, ...).
    """
    layout = detect_layout(state_dict)
    proj = state_dict["patch_embed.proj.weight"]  # (hidden, channels, tubelet, patch, patch)
    hidden_size, num_channels, tubelet_size, patch_size, _ = proj.shape
    use_cls_token = "cls_token" in state_dict
    separate = "pos_embed_spatial" in state_dict
    if separate:
        spatial_tokens = state_dict["pos_embed_spatial"].shape[1]
        frames = state_dict["pos_embed_temporal"].shape[1] * tubelet_size
    else:
        frames = num_frames
        spatial_tokens = (state_dict["pos_embed"].shape[1] - int(use_cls_token)) * tubelet_size // frames
    side = math_isqrt_exact(spatial_tokens, "spatial position embedding length")
    num_layers = _count_blocks(state_dict, r"blocks\.(\d+)\.")
    if num_attention_heads is None:
        num_attention_heads = next(
            (p["num_attention_heads"] for p in PRESETS.values() if p["hidden_size"] == hidden_size),
            max(1, hidden_size // 64),
        )
    qkv_bias = "blocks.0.attn.qkv.bias" in state_dict or "blocks.0.attn.q.bias" in state_dict
    values: dict[str, Any] = dict(
        image_size=side * patch_size,
        patch_size=patch_size,
        num_channels=num_channels,
        num_frames=frames,
        tubelet_size=tubelet_size,
        hidden_size=hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=state_dict["blocks.0.mlp.fc1.weight"].shape[0],
        qkv_bias=qkv_bias,
        use_separate_position_embeddings=separate,
        use_cls_token=use_cls_token,
    )
    if layout["task"] == "classification":
        head = state_dict.get("head.weight", state_dict.get("head.projection.weight"))
        values["num_labels"] = head.shape[0]
    if layout["decoder_layout"]:
        pyslowfast = layout["decoder_layout"] == "pyslowfast"
        decoder_hidden = state_dict["decoder_embed.weight"].shape[0]
        if pyslowfast:
            depth = _count_blocks(state_dict, r"pred_head\.transforms\.0\.(\d+)\.attn\.")
            predictor = state_dict["pred_head.projections.0.weight"]
            block = "pred_head.transforms.0.0."
        else:
            depth = _count_blocks(state_dict, r"decoder_blocks\.(\d+)\.")
            predictor = state_dict["decoder_pred.weight"]
            block = "decoder_blocks.0."
        frames_per_token, remainder = divmod(predictor.shape[0], patch_size**2 * num_channels)
        if remainder or frames_per_token == 0:
            raise CheckpointConversionError(
                f"Predictor width {predictor.shape[0]} is not a multiple of patch_size**2 * channels "
                f"({patch_size**2 * num_channels})."
            )
        if decoder_num_attention_heads is None:
            decoder_num_attention_heads = decoder_hidden // 64 if pyslowfast or decoder_hidden % 16 else 16
        values.update(
            decoder_hidden_size=decoder_hidden,
            decoder_num_hidden_layers=depth,
            decoder_num_attention_heads=max(1, decoder_num_attention_heads),
            decoder_intermediate_size=state_dict[block + "mlp.fc1.weight"].shape[0],
            decoder_use_separate_position_embeddings=(
                "decoder_pos_embed_spatial" in state_dict or "dec_pos_embed_spatial" in state_dict
            ),
            decoder_cls_from_encoder=use_cls_token and "decoder_cls_token" not in state_dict,
            pred_t_dim=frames_per_token * frames // tubelet_size,
            target_frame_sampling="stride" if pyslowfast else "linspace",
        )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return MAESTConfig(**values)


def math_isqrt_exact(value: int, what: str) -> int:
    root = int(round(value**0.5))
    if root * root != value:
        raise CheckpointConversionError(f"The {what} ({value}) is not a square number of patches.")
    return root


def convert_state_dict(state_dict: dict[str, torch.Tensor], config: MAESTConfig) -> dict[str, torch.Tensor]:
    """
    Rename (and split fused `qkv`) an official state dict into this package's names for the model class the layout
    calls for (without the `mae_st.` prefix for a bare encoder). Raises on any key it cannot place.
    """
    layout = detect_layout(state_dict)
    encoder_prefix = "" if layout["task"] == "encoder" else "mae_st."
    decoder_depth = config.decoder_num_hidden_layers
    converted: dict[str, torch.Tensor] = {}
    unused = []
    for key, value in state_dict.items():
        if key in _ENCODER_RENAMES:
            converted[encoder_prefix + _ENCODER_RENAMES[key]] = value
        elif key in _HEAD_RENAMES and layout["task"] == "classification":
            converted[_HEAD_RENAMES[key]] = value
        elif key in _DECODER_RENAMES and layout["task"] == "pretraining":
            converted["decoder." + _DECODER_RENAMES[key]] = value
        elif m := re.match(r"blocks\.(\d+)\.(.+)$", key):
            converted.update(_convert_block(f"{encoder_prefix}layers.{m.group(1)}.", m.group(2), value, key))
        elif m := re.match(r"decoder_blocks\.(\d+)\.(.+)$", key):
            converted.update(_convert_block(f"decoder.layers.{m.group(1)}.", m.group(2), value, key))
        elif m := re.match(r"pred_head\.transforms\.0\.(\d+)\.(.+)$", key):
            index, rest = int(m.group(1)), m.group(2)
            if index == decoder_depth and rest in ("weight", "bias"):
                converted[f"decoder.decoder_norm.{rest}"] = value
            else:
                converted.update(_convert_block(f"decoder.layers.{index}.", rest, value, key))
        else:
            unused.append(key)
    if unused:
        raise CheckpointConversionError(f"Keys of the checkpoint that have no place in MAE-ST: {sorted(unused)}")
    return converted


def _convert_block(prefix: str, rest: str, value: torch.Tensor, key: str) -> dict[str, torch.Tensor]:
    name, _, kind = rest.rpartition(".")
    if name == "attn.qkv":
        query, key_, value_ = value.chunk(3, dim=0)  # fused in q, k, v order
        return {
            f"{prefix}attention.q_proj.{kind}": query,
            f"{prefix}attention.k_proj.{kind}": key_,
            f"{prefix}attention.v_proj.{kind}": value_,
        }
    if name not in _BLOCK_RENAMES:
        raise CheckpointConversionError(f"Unknown transformer block weight {key!r}.")
    return {f"{prefix}{_BLOCK_RENAMES[name]}.{kind}": value}


def model_class_for(state_dict: dict[str, torch.Tensor]) -> type[MAESTPreTrainedModel]:
    task = detect_layout(state_dict)["task"]
    return {"pretraining": MAESTForPreTraining, "classification": MAESTForVideoClassification}.get(task, MAESTModel)


def convert_official_checkpoint(
    checkpoint: str | Path | dict[str, torch.Tensor],
    output_dir: str | Path | None = None,
    allow_pickle: bool = False,
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
    num_frames: int = 16,
    repo_id: str | None = None,
    **config_overrides: Any,
) -> MAESTPreTrainedModel:
    """
    Convert an official checkpoint (a path, or an already loaded state dict) into a model of this package, and save
    it as a complete Hub folder ([`~modeling_mae_st.hub.save_for_hub`]: weights, config, video processor, code and,
    for a released pretraining checkpoint, its model card naming `repo_id`) when `output_dir` is given.

    A checkpoint with decoder weights becomes [`MAESTForPreTraining`], one with a classification head
    [`MAESTForVideoClassification`], an encoder alone [`MAESTModel`].

    Raises:
        CheckpointConversionError: a key of the checkpoint has no place in the model, or a weight of the model is
            not in the checkpoint, or a shape disagrees.
    """
    if isinstance(checkpoint, dict):
        state_dict = strip_wrapper_prefixes(checkpoint)
        source = "<state dict>"
    else:
        state_dict = load_official_state_dict(checkpoint, allow_pickle=allow_pickle)
        source = str(checkpoint)
    config = infer_config(
        state_dict,
        num_attention_heads=num_attention_heads,
        decoder_num_attention_heads=decoder_num_attention_heads,
        num_frames=num_frames,
        **config_overrides,
    )
    converted = convert_state_dict(state_dict, config)
    model_class = model_class_for(state_dict)
    model = model_class(config)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(converted))
    unexpected = sorted(set(converted) - set(expected))
    wrong_shape = sorted(
        f"{key}: checkpoint {tuple(converted[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in set(converted) & set(expected)
        if converted[key].shape != expected[key].shape
    )
    if missing or unexpected or wrong_shape:
        raise CheckpointConversionError(
            f"Converting {source} into {model_class.__name__} is not exact: missing weights {missing}, "
            f"unexpected weights {unexpected}, shape mismatches {wrong_shape}."
        )
    model.load_state_dict(converted, strict=True)
    model.eval()
    if output_dir is not None:
        card = None
        release = None if isinstance(checkpoint, dict) else find_released_checkpoint(checkpoint)
        if release is not None and model_class is MAESTForPreTraining:
            card = build_model_card("converted", config, repo_id or release.name, release=release)
        save_for_hub(model, output_dir, video_processor=default_video_processor(), card=card)
        logger.info("Saved %s converted from %s to %s", model_class.__name__, source, output_dir)
    return model


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="Official .pth/.pyth file.")
    parser.add_argument("--output_dir", required=True, help="Folder for the save_pretrained output.")
    parser.add_argument(
        "--num_attention_heads", type=int, default=None,
        help="Encoder heads (default: 12 for width 768, 16 for 1024 and 1280, else width // 64).",
    )
    parser.add_argument(
        "--decoder_num_attention_heads", type=int, default=None,
        help="Decoder heads (default: width // 64 for PySlowFast decoders, i.e. 8 for the released ones; 16 for "
        "mae_st decoders).",
    )
    parser.add_argument(
        "--num_frames", type=int, default=16,
        help="Frames per clip; read only for joint position tables, which do not reveal it (default 16).",
    )
    loss = parser.add_mutually_exclusive_group()
    loss.add_argument("--norm_pix_loss", dest="norm_pix_loss", action="store_true", default=True,
                      help="Targets normalized per patch (default, as the released models).")
    loss.add_argument("--no_norm_pix_loss", dest="norm_pix_loss", action="store_false")
    parser.add_argument("--mask_ratio", type=float, default=0.9, help="Mask ratio stored in the config (default 0.9).")
    parser.add_argument(
        "--target_frame_sampling", choices=["linspace", "stride"], default=None,
        help="Override the target frames (default: 'stride' for PySlowFast decoders, 'linspace' for mae_st ones).",
    )
    parser.add_argument("--allow_pickle", action="store_true",
                        help="Allow full unpickling for files that need it (only for files you trust).")
    hub = parser.add_argument_group("Hugging Face Hub")
    hub.add_argument("--push_to_hub", action="store_true", help="Upload the output folder to the Hub.")
    hub.add_argument("--hub_model_id", default=None,
                     help="Repository to push to (default: the output folder's name under your user).")
    hub.add_argument("--hub_token", default=None, help="Hub token (default: the one `hf auth login` stored).")
    hub.add_argument("--private", action="store_true", help="Create the repository private.")
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    model = convert_official_checkpoint(
        args.checkpoint,
        output_dir=args.output_dir,
        allow_pickle=args.allow_pickle,
        num_attention_heads=args.num_attention_heads,
        decoder_num_attention_heads=args.decoder_num_attention_heads,
        num_frames=args.num_frames,
        norm_pix_loss=args.norm_pix_loss,
        mask_ratio=args.mask_ratio,
        target_frame_sampling=args.target_frame_sampling,
        repo_id=args.hub_model_id,
    )
    print(f"Converted {args.checkpoint} into {type(model).__name__} at {args.output_dir}")
    if args.push_to_hub:
        repo_id = args.hub_model_id or Path(args.output_dir).resolve().name
        commit = push_to_hub(args.output_dir, repo_id, token=args.hub_token, private=args.private,
                             commit_message=f"Convert {Path(args.checkpoint).name}")
        print(f"Pushed to {commit.commit_url}")


if __name__ == "__main__":
    main()
