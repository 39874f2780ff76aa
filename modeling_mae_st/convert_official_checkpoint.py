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

Every size the tensors reveal is inferred. What they cannot reveal is read from the training settings the file
saves (mae_st's `args`, PySlowFast's `cfg`) or must be given: the attention heads of a width that is not a released
one, and the frame count of a joint position table. Nothing is guessed. Loss options come from arguments whose
defaults are the released models'. Conversion is strict: a key that was not used, or a weight that was not filled, is
an error that names it.

    mae-st-convert --checkpoint VIT_L_16x4_MAE_PT.pyth --output_dir mae-st-vit-l

The output folder is a complete Hub repository (`hub.save_for_hub`): safetensors weights, config, a video processor
for the model's frames and image size, the code files with `auto_map` (loads with `trust_remote_code=True` where this
package is not installed) and, for a released checkpoint (recognised by its published md5 prefix or file name), a
model card. `--push_to_hub` uploads it.
"""

from __future__ import annotations

import logging
import math
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from .configuration_mae_st import MAESTConfig
from .hub import default_video_processor, save_for_hub
from .model_card import build_model_card
from .modeling_mae_st import MAESTForPreTraining, MAESTForVideoClassification, MAESTModel, MAESTPreTrainedModel
from .released_checkpoints import RELEASED_CHECKPOINTS, find_released_checkpoint


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
    """A checkpoint that cannot be converted exactly; the message names the file and the cause."""


@dataclass
class OfficialCheckpoint:
    """
    What an official file holds for conversion.

    Attributes:
        state_dict: the model's tensors, wrapper prefixes (`module.`, `_orig_mod.`) stripped.
        saved_settings: the sizes the weights cannot reveal, read from the training settings saved beside them
            (mae_st's `args`, PySlowFast's `cfg`): any of `num_frames`, `num_attention_heads`,
            `decoder_num_attention_heads`.
    """

    state_dict: dict[str, torch.Tensor]
    saved_settings: dict[str, int] = field(default_factory=dict)


def load_official_checkpoint(path: str | Path, allow_pickle: bool = False) -> OfficialCheckpoint:
    """
    Read an official `.pth`/`.pyth` file: its model state dict and the settings saved beside it.

    The file is read with `torch.load(..., weights_only=True)`. A file that needs full unpickling (mae_st saves its
    argparse `args` that way) is refused unless `allow_pickle` (only for files you trust: unpickling can run
    arbitrary code).

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointConversionError: the file is empty, not a PyTorch checkpoint, truncated, needs full unpickling
            without `allow_pickle`, holds objects of classes that cannot be imported here, or holds no state dict;
            the message names the file and the cause.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(2, "No such checkpoint file", str(path))
    with open(path, "rb") as handle:
        head = handle.read(8)
    if not head:
        raise CheckpointConversionError(f"{path} is empty (0 bytes): not a PyTorch checkpoint.")
    # torch.save writes a zip archive (PyTorch >= 1.6, local file header "PK\x03\x04") or, in the legacy format,
    # a pickle, whose first byte is the PROTO opcode 0x80: anything else is not a checkpoint at all, whatever error
    # torch.load would give for it.
    if not head.startswith(b"PK\x03\x04") and head[:1] != b"\x80":
        raise CheckpointConversionError(
            f"{path} is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle; it starts with "
            f"{head!r})."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except pickle.UnpicklingError as error:
        if not allow_pickle and "Weights only load failed" in str(error):
            raise CheckpointConversionError(
                f"{path} holds Python objects besides tensors (e.g. the training script's saved arguments), which "
                "torch.load(weights_only=True) refuses; if you trust the file, pass --allow_pickle "
                "(allow_pickle=True)."
            ) from error
        raise CheckpointConversionError(f"{path} is not a readable PyTorch checkpoint: {error}.") from error
    except (AttributeError, ImportError) as error:
        raise CheckpointConversionError(
            f"{path} holds a pickled object whose class cannot be imported here ({error}); save the state dict "
            "alone (torch.save({'model': model.state_dict()}, path)) with the program that wrote it."
        ) from error
    except (RuntimeError, EOFError, ValueError, KeyError, IndexError, OSError) as error:  # OSError: torch's zip reader
        raise CheckpointConversionError(
            f"{path} is not a readable PyTorch checkpoint (truncated or corrupted: {type(error).__name__}: "
            f"{error or 'no details'})."
        ) from error
    try:
        return unwrap_checkpoint(checkpoint)
    except CheckpointConversionError as error:
        raise CheckpointConversionError(f"{path} {error}") from None


def unwrap_checkpoint(checkpoint: Any) -> OfficialCheckpoint:
    """
    The state dict (prefixes stripped) and saved settings of a checkpoint as the official scripts save it: a state
    dict, or a dict holding one under `model` (mae_st), `model_state` (PySlowFast) or `state_dict`, with `args`
    (mae_st) or `cfg` (PySlowFast) beside it.

    Raises:
        CheckpointConversionError: no state dict is found; the message starts with "holds no state dict".
    """
    state_dict, settings = checkpoint, {}
    if isinstance(checkpoint, dict):
        for key in ("model", "model_state", "state_dict"):
            if isinstance(checkpoint.get(key), dict):
                state_dict = checkpoint[key]
                settings = saved_settings(checkpoint)
                break
    if not isinstance(state_dict, dict) or not state_dict or not all(map(torch.is_tensor, state_dict.values())):
        found = sorted(map(str, checkpoint)) if isinstance(checkpoint, dict) else type(checkpoint).__name__
        raise CheckpointConversionError(
            "holds no state dict: expected a dict of tensors, or a dict with one under 'model' or 'model_state'; "
            f"found {found}."
        )
    return OfficialCheckpoint(strip_wrapper_prefixes(state_dict), settings)


def saved_settings(checkpoint: dict[str, Any]) -> dict[str, int]:
    """
    The sizes the weights cannot reveal, from the training settings an official checkpoint saves beside them.

    mae_st saves its argparse namespace as `args` (`num_frames`, `decoder_num_heads`; the encoder heads follow from
    the model name, i.e. from the width); PySlowFast saves its config as YAML text under `cfg` (`DATA.NUM_FRAMES`,
    `MVIT.NUM_HEADS`). Settings that are absent are left out.
    """
    settings: dict[str, int] = {}
    args = checkpoint.get("args")
    args = vars(args) if hasattr(args, "__dict__") else args  # an argparse.Namespace, or a dict
    if isinstance(args, dict):
        for official, ours in (("num_frames", "num_frames"), ("decoder_num_heads", "decoder_num_attention_heads")):
            if isinstance(args.get(official), int):
                settings[ours] = args[official]
    cfg = checkpoint.get("cfg")
    if isinstance(cfg, str):
        try:
            cfg = yaml.safe_load(cfg)
        except yaml.YAMLError as error:
            logger.warning("The checkpoint's saved cfg is not readable YAML (%s); its settings are not used.", error)
    if isinstance(cfg, dict):
        for section, key, ours in (("DATA", "NUM_FRAMES", "num_frames"), ("MVIT", "NUM_HEADS", "num_attention_heads")):
            value = (cfg.get(section) or {}).get(key)
            if isinstance(value, int):
                settings[ours] = value
    return settings


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
        raise CheckpointConversionError(
            f"has blocks matching {pattern!r} that are not numbered 0..N-1: {sorted(indices)}."
        )
    return len(indices)


def detect_layout(state_dict: dict[str, torch.Tensor]) -> dict[str, Any]:
    """
    Recognise the checkpoint's layout from its keys.

    Returns a dict with `task` ("pretraining", "classification" or "encoder"), `decoder_layout` ("mae_st",
    "pyslowfast" or None) and `fused_qkv`.
    """
    if "patch_embed.proj.weight" not in state_dict:
        raise CheckpointConversionError(
            "is not an MAE-ST checkpoint: it has no 'patch_embed.proj.weight'; its keys start with "
            f"{sorted(state_dict)[:8]}"
        )
    has_head = "head.weight" in state_dict or "head.projection.weight" in state_dict
    decoder_layout = None
    if any(key.startswith("pred_head.") for key in state_dict):
        decoder_layout = "pyslowfast"
    elif any(key.startswith("decoder_blocks.") or key.startswith("decoder_pred.") for key in state_dict):
        decoder_layout = "mae_st"
    if decoder_layout and has_head:
        raise CheckpointConversionError("holds both a decoder and a classification head.")
    task = "pretraining" if decoder_layout else ("classification" if has_head else "encoder")
    fused_qkv = any(key.endswith("attn.qkv.weight") for key in state_dict)
    return {"task": task, "decoder_layout": decoder_layout, "fused_qkv": fused_qkv}


def _weight(state_dict: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    """`state_dict[key]`, or an error naming the missing weight."""
    if key not in state_dict:
        raise CheckpointConversionError(
            f"has no {key!r}, which a checkpoint of its layout ({detect_layout(state_dict)['task']}) needs."
        )
    return state_dict[key]


def released_num_attention_heads() -> dict[int, int]:
    """Encoder width -> attention heads of the released checkpoints (the only widths whose heads are known)."""
    return {config.hidden_size: config.num_attention_heads for config in (r.config() for r in RELEASED_CHECKPOINTS)}


def infer_config(
    state_dict: dict[str, torch.Tensor],
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
    num_frames: int | None = None,
    **overrides: Any,
) -> MAESTConfig:
    """
    Build the `MAESTConfig` an official state dict was made with. Widths, depths, patch and tubelet sizes, frames and
    image size (from separate position tables), cls token, qkv bias, position embedding kinds, `pred_t_dim` and the
    number of classes come from the tensors.

    What the tensors cannot reveal must be given (or read from the settings saved in the file, see
    [`saved_settings`]):

    Args:
        num_attention_heads: encoder heads; known without it only for the released widths (12 for 768, 16 for 1024
            and 1280).
        decoder_num_attention_heads: decoder heads; known without it only for PySlowFast decoders (PySlowFast's own
            rule, width // 64: 8 for the released 512-wide decoders).
        num_frames: frames per clip; needed only with one joint position table, which does not separate time from
            space (separate tables reveal it).
        overrides: any other config value (`norm_pix_loss`, `mask_ratio`, `target_frame_sampling`, ...).

    Raises:
        CheckpointConversionError: a weight the layout needs is missing, or a size above is needed and not given, or
            the given `num_frames` does not fit the position table.
    """
    layout = detect_layout(state_dict)
    proj = state_dict["patch_embed.proj.weight"]  # (hidden, channels, tubelet, patch, patch)
    hidden_size, num_channels, tubelet_size, patch_size, _ = proj.shape
    use_cls_token = "cls_token" in state_dict
    separate = "pos_embed_spatial" in state_dict
    if separate:
        spatial_tokens = state_dict["pos_embed_spatial"].shape[1]
        frames = _weight(state_dict, "pos_embed_temporal").shape[1] * tubelet_size
        if num_frames is not None and num_frames != frames:
            raise CheckpointConversionError(
                f"has separate position tables for {frames} frames, but --num_frames {num_frames} was given."
            )
    else:
        positions = _weight(state_dict, "pos_embed").shape[1] - int(use_cls_token)
        if num_frames is None:
            raise CheckpointConversionError(
                f"has one joint position table ('pos_embed', {positions} patch positions), so the frame count is not "
                "in the weights and the file saves no training settings that give it: pass --num_frames (the clip "
                "length the model was trained with)."
            )
        frames = num_frames
        spatial_tokens, remainder = divmod(positions * tubelet_size, frames)
        if remainder or frames % tubelet_size or math.isqrt(spatial_tokens) ** 2 != spatial_tokens:
            raise CheckpointConversionError(
                f"has a joint position table of {positions} patch positions, which does not fit --num_frames "
                f"{frames} with tubelet size {tubelet_size} (frames / tubelet x a square grid of patches)."
            )
    side = math.isqrt(spatial_tokens)
    if side**2 != spatial_tokens:
        raise CheckpointConversionError(
            f"has a spatial position table of {spatial_tokens} positions, not a square grid of patches."
        )
    num_layers = _count_blocks(state_dict, r"blocks\.(\d+)\.")
    if num_attention_heads is None:
        num_attention_heads = released_num_attention_heads().get(hidden_size)
    if num_attention_heads is None:
        raise CheckpointConversionError(
            f"has an encoder {hidden_size} wide, not a released width ({sorted(released_num_attention_heads())}): "
            "its head count is not in the weights and the file saves no training settings that give it: pass "
            "--num_attention_heads."
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
        intermediate_size=_weight(state_dict, "blocks.0.mlp.fc1.weight").shape[0],
        qkv_bias=qkv_bias,
        use_separate_position_embeddings=separate,
        use_cls_token=use_cls_token,
    )
    if layout["task"] == "classification":
        head = state_dict.get("head.weight", state_dict.get("head.projection.weight"))
        values["num_labels"] = head.shape[0]
    if layout["decoder_layout"]:
        pyslowfast = layout["decoder_layout"] == "pyslowfast"
        decoder_hidden = _weight(state_dict, "decoder_embed.weight").shape[0]
        if pyslowfast:
            depth = _count_blocks(state_dict, r"pred_head\.transforms\.0\.(\d+)\.attn\.")
            predictor = _weight(state_dict, "pred_head.projections.0.weight")
            block = "pred_head.transforms.0.0."
        else:
            depth = _count_blocks(state_dict, r"decoder_blocks\.(\d+)\.")
            predictor = _weight(state_dict, "decoder_pred.weight")
            block = "decoder_blocks.0."
        frames_per_token, remainder = divmod(predictor.shape[0], patch_size**2 * num_channels)
        if remainder or frames_per_token == 0:
            raise CheckpointConversionError(
                f"has a predictor {predictor.shape[0]} wide, not a multiple of patch_size**2 * channels "
                f"({patch_size**2 * num_channels})."
            )
        if decoder_num_attention_heads is None and pyslowfast and decoder_hidden % 64 == 0:
            decoder_num_attention_heads = decoder_hidden // 64
        if decoder_num_attention_heads is None:
            raise CheckpointConversionError(
                f"has a {layout['decoder_layout']} decoder {decoder_hidden} wide: its head count is not in the "
                "weights and the file saves no training settings that give it: pass --decoder_num_attention_heads."
            )
        values.update(
            decoder_hidden_size=decoder_hidden,
            decoder_num_hidden_layers=depth,
            decoder_num_attention_heads=decoder_num_attention_heads,
            decoder_intermediate_size=_weight(state_dict, block + "mlp.fc1.weight").shape[0],
            decoder_use_separate_position_embeddings=(
                "decoder_pos_embed_spatial" in state_dict or "dec_pos_embed_spatial" in state_dict
            ),
            decoder_cls_from_encoder=use_cls_token and "decoder_cls_token" not in state_dict,
            pred_t_dim=frames_per_token * frames // tubelet_size,
            target_frame_sampling="stride" if pyslowfast else "linspace",
        )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return MAESTConfig(**values)


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
        raise CheckpointConversionError(f"has keys that have no place in MAE-ST: {sorted(unused)}.")
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
        raise CheckpointConversionError(f"has an unknown transformer block weight {key!r}.")
    return {f"{prefix}{_BLOCK_RENAMES[name]}.{kind}": value}


def model_class_for(state_dict: dict[str, torch.Tensor]) -> type[MAESTPreTrainedModel]:
    task = detect_layout(state_dict)["task"]
    return {"pretraining": MAESTForPreTraining, "classification": MAESTForVideoClassification}.get(task, MAESTModel)


def convert_official_checkpoint(
    checkpoint: str | Path | dict[str, Any],
    output_dir: str | Path | None = None,
    allow_pickle: bool = False,
    num_attention_heads: int | None = None,
    decoder_num_attention_heads: int | None = None,
    num_frames: int | None = None,
    repo_id: str | None = None,
    **config_overrides: Any,
) -> MAESTPreTrainedModel:
    """
    Convert an official checkpoint into a model of this package, and save it as a complete Hub folder
    ([`~modeling_mae_st.hub.save_for_hub`]: weights, config, a video processor for the model's frames and size,
    code and, for a released pretraining checkpoint, its model card naming `repo_id`) when `output_dir` is given.

    A checkpoint with decoder weights becomes [`MAESTForPreTraining`], one with a classification head
    [`MAESTForVideoClassification`], an encoder alone [`MAESTModel`].

    Args:
        checkpoint: a file path, or an already loaded checkpoint (a state dict, or the official dict holding one
            with its saved `args`/`cfg`).
        num_attention_heads, decoder_num_attention_heads, num_frames: what the weights cannot reveal (see
            [`infer_config`]); by default read from the settings saved in the checkpoint, when it has them.

    Raises:
        FileNotFoundError: the file does not exist.
        CheckpointConversionError: the file cannot be read (see [`load_official_checkpoint`]), a size is needed and
            not given, a key of the checkpoint has no place in the model, a weight of the model is not in the
            checkpoint, or a shape disagrees. The message starts with the file's name.
    """
    if isinstance(checkpoint, dict):
        official = unwrap_checkpoint(checkpoint)
        source = "The checkpoint"
    else:
        official = load_official_checkpoint(checkpoint, allow_pickle=allow_pickle)
        source = str(checkpoint)
    given = dict(
        num_attention_heads=num_attention_heads,
        decoder_num_attention_heads=decoder_num_attention_heads,
        num_frames=num_frames,
    )
    sizes = {**official.saved_settings, **{key: value for key, value in given.items() if value is not None}}
    state_dict = official.state_dict
    try:
        config = infer_config(state_dict, **sizes, **config_overrides)
        converted = convert_state_dict(state_dict, config)
    except CheckpointConversionError as error:
        raise CheckpointConversionError(f"{source} {error}") from None
    except ValueError as error:  # MAESTConfig refused what the options asked for (heads that do not divide, ...)
        options = {**given, **config_overrides}
        settings = ", ".join(f"{key}={value}" for key, value in options.items() if value is not None)
        raise CheckpointConversionError(f"{source}: {error} (given {settings or 'no sizes'})") from None
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
        save_for_hub(model, output_dir, video_processor=default_video_processor(config), card=card)
        logger.info("Saved %s converted from %s to %s", model_class.__name__, source, output_dir)
    return model
