"""MAE-ST model configuration."""

# (No `from __future__ import annotations`: `@strict` checks each value against its field's type, which must stay a
# type, not a string; with it every wrong-typed value was taken.)
from huggingface_hub.dataclasses import strict
from transformers.configuration_utils import PreTrainedConfig


# Official sizes (facebookresearch/mae_st `models_vit.py` / `models_mae.py`, PySlowFast `k400_VIT_*_16x4_*` configs).
# All three use 16x16 spatial patches: the released ViT-H weights are patch 16 although the official constructor is
# called `vit_huge_patch14`.
PRESETS: dict[str, dict[str, int]] = {
    "vit-b": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
    "vit-l": {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096},
    "vit-h": {"hidden_size": 1280, "num_hidden_layers": 32, "num_attention_heads": 16, "intermediate_size": 5120},
}

TARGET_FRAME_SAMPLINGS = ("linspace", "stride")
POSITION_EMBEDDING_INITS = ("trunc_normal", "sincos")


@strict
class MAESTConfig(PreTrainedConfig):
    r"""
    Configuration of the MAE-ST models ([`MAESTModel`], [`MAESTForPreTraining`], [`MAESTForVideoClassification`]).

    Defaults give the ViT-L/16 of the paper with its video decoder (512 wide, 4 deep) and the official pretraining
    recipe (mask ratio 0.9, normalized-pixel targets, 8 predicted frames). Use [`MAESTConfig.from_preset`] for
    ViT-B, ViT-L and ViT-H.

    Names follow transformers; where the official code (facebookresearch/mae_st) used another name it is given in
    brackets.

    Args:
        image_size (`int`, defaults to 224): height and width of the input frames [`img_size`].
        patch_size (`int`, defaults to 16): spatial side of a patch.
        num_channels (`int`, defaults to 3): channels of the input frames [`in_chans`].
        num_frames (`int`, defaults to 16): frames of an input clip.
        tubelet_size (`int`, defaults to 2): frames per spacetime patch [`t_patch_size`].
        hidden_size (`int`, defaults to 1024): encoder width [`embed_dim`].
        num_hidden_layers (`int`, defaults to 24): encoder depth [`depth`].
        num_attention_heads (`int`, defaults to 16): encoder heads [`num_heads`].
        intermediate_size (`int`, defaults to 4096): encoder MLP width [`mlp_ratio` x `embed_dim`].
        hidden_act (`str`, defaults to `"gelu"`): MLP activation (exact GELU, as timm's `nn.GELU`).
        layer_norm_eps (`float`, defaults to 1e-6): epsilon of every LayerNorm.
        qkv_bias (`bool`, defaults to `True`): bias on the query, key and value projections [`not no_qkv_bias`].
        attention_probs_dropout_prob (`float`, defaults to 0.0): dropout on attention probabilities.
        hidden_dropout_prob (`float`, defaults to 0.0): dropout after the attention and MLP projections.
        drop_path_rate (`float`, defaults to 0.0): stochastic depth of the encoder, rising linearly with depth
            from 0 to this value. The official fine-tuning recipe uses 0.2 for ViT-L.
        use_separate_position_embeddings (`bool`, defaults to `True`): learnable separate spatial (h*w) and temporal
            (t) position tables summed per token, plus one for the cls token; otherwise one joint table of
            (1 [+ 1], t*h*w) [`sep_pos_embed`].
        use_cls_token (`bool`, defaults to `True`): prepend a learnable cls token [`cls_embed`].
        decoder_hidden_size (`int`, defaults to 512) [`decoder_embed_dim`].
        decoder_num_hidden_layers (`int`, defaults to 4) [`decoder_depth`].
        decoder_num_attention_heads (`int`, defaults to 16) [`decoder_num_heads`]. The released PySlowFast
            checkpoints use width // 64 heads, so 8 for a 512-wide decoder.
        decoder_intermediate_size (`int`, defaults to 2048).
        decoder_use_separate_position_embeddings (`bool`, *optional*): separate or joint decoder position tables.
            `None` (default) follows `use_separate_position_embeddings`, as mae_st does; PySlowFast checkpoints use a
            joint decoder table with the separate encoder tables.
        decoder_cls_from_encoder (`bool`, defaults to `False`): with a cls token, mae_st gives the decoder its own
            learnable `decoder_cls_token`; PySlowFast instead passes the encoder's cls output through the decoder
            embedding (`True`).
        mask_ratio (`float`, defaults to 0.9): fraction of spacetime patches masked during pretraining.
        norm_pix_loss (`bool`, defaults to `True`): normalize each target patch by its own mean and (unbiased)
            variance before the loss.
        pred_t_dim (`int`, *optional*): frames the decoder predicts per clip; each token predicts
            `tubelet_size * pred_t_dim / num_frames` of them. Defaults to the official 8 where `num_frames` allows it
            (8 and 16 frames), else to one frame per token, `num_frames // tubelet_size` (a 4-frame config failed on
            the official default).
        target_frame_sampling (`str`, defaults to `"linspace"`): which input frames make the target.
            `"linspace"` (mae_st): `linspace(0, T - 1, pred_t_dim)` rounded down. `"stride"` (PySlowFast
            `TIME_STRIDE_LOSS`): every `T // pred_t_dim`-th frame from 0.
        initializer_range (`float`, defaults to 0.02): std of the truncated-normal position tables and cls token.
        position_embedding_init (`str`, defaults to `"trunc_normal"`): how the learnable position tables start:
            `"trunc_normal"` (official, std `initializer_range`) or `"sincos"`: fixed sine-cosine values of the
            patch coordinates (2D over space, 1D over time, as the fixed tables of ViTMAE and VideoMAE), still
            learned from there. Small models trained briefly need `"sincos"`: starting from random tables, the
            quick start's model predicted each clip's average colour everywhere for hundreds of steps (README).
        classifier_dropout (`float`, defaults to 0.5): dropout before the classification head (official default of
            `models_vit.VisionTransformer`; the fine-tuning recipe sets 0.3).
    """

    model_type = "mae_st"

    image_size: int = 224
    patch_size: int = 16
    num_channels: int = 3
    num_frames: int = 16
    tubelet_size: int = 2
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-6
    qkv_bias: bool = True
    attention_probs_dropout_prob: float | int = 0.0
    hidden_dropout_prob: float | int = 0.0
    drop_path_rate: float | int = 0.0
    use_separate_position_embeddings: bool = True
    use_cls_token: bool = True
    decoder_hidden_size: int = 512
    decoder_num_hidden_layers: int = 4
    decoder_num_attention_heads: int = 16
    decoder_intermediate_size: int = 2048
    decoder_use_separate_position_embeddings: bool | None = None
    decoder_cls_from_encoder: bool = False
    mask_ratio: float | int = 0.9
    norm_pix_loss: bool = True
    pred_t_dim: int | None = None
    target_frame_sampling: str = "linspace"
    initializer_range: float = 0.02
    position_embedding_init: str = "trunc_normal"
    classifier_dropout: float | int = 0.5

    def __post_init__(self, **kwargs):
        if self.pred_t_dim is None:
            official = 8
            fits = self.num_frames >= official and (self.tubelet_size * official) % max(self.num_frames, 1) == 0
            self.pred_t_dim = official if fits else max(self.num_frames // max(self.tubelet_size, 1), 1)
        super().__post_init__(**kwargs)
        self._check_consistency()

    def _check_consistency(self) -> None:
        """Raise a `ValueError` naming the first inconsistent value."""
        for name in ("image_size", "patch_size", "num_frames", "tubelet_size", "pred_t_dim", "num_channels"):
            if getattr(self, name) <= 0:
                raise ValueError(f"`{name}` must be a positive integer, got {getattr(self, name)}.")
        if self.image_size % self.patch_size != 0:
            raise ValueError(
                f"`image_size` ({self.image_size}) must be divisible by `patch_size` ({self.patch_size})."
            )
        if self.num_frames % self.tubelet_size != 0:
            raise ValueError(
                f"`num_frames` ({self.num_frames}) must be divisible by `tubelet_size` ({self.tubelet_size})."
            )
        if self.pred_t_dim > self.num_frames or (self.tubelet_size * self.pred_t_dim) % self.num_frames != 0:
            raise ValueError(
                f"`pred_t_dim` ({self.pred_t_dim}) must give a whole number of predicted frames per token: "
                f"tubelet_size * pred_t_dim / num_frames = {self.tubelet_size} * {self.pred_t_dim} / "
                f"{self.num_frames} is not a positive integer (with num_frames={self.num_frames} and "
                f"tubelet_size={self.tubelet_size}, use a multiple of {self.num_frames // self.tubelet_size} "
                f"up to {self.num_frames})."
            )
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"`mask_ratio` must be in [0, 1), got {self.mask_ratio}.")
        for prefix in ("", "decoder_"):
            width = getattr(self, f"{prefix}hidden_size")
            heads = getattr(self, f"{prefix}num_attention_heads")
            if heads <= 0 or width % heads != 0:
                raise ValueError(
                    f"`{prefix}hidden_size` ({width}) must be divisible by `{prefix}num_attention_heads` ({heads})."
                )
        if self.position_embedding_init not in POSITION_EMBEDDING_INITS:
            raise ValueError(
                f"`position_embedding_init` must be one of {POSITION_EMBEDDING_INITS}, got "
                f"{self.position_embedding_init!r}."
            )
        if self.target_frame_sampling not in TARGET_FRAME_SAMPLINGS:
            raise ValueError(
                f"`target_frame_sampling` must be one of {TARGET_FRAME_SAMPLINGS}, got {self.target_frame_sampling!r}."
            )
        if self.target_frame_sampling == "stride" and self.num_frames % self.pred_t_dim != 0:
            raise ValueError(
                f"`target_frame_sampling='stride'` needs `num_frames` ({self.num_frames}) divisible by "
                f"`pred_t_dim` ({self.pred_t_dim})."
            )

    @property
    def decoder_separate_position_embeddings(self) -> bool:
        """Whether the decoder uses separate spatial/temporal tables (resolves the `None` default)."""
        if self.decoder_use_separate_position_embeddings is None:
            return self.use_separate_position_embeddings
        return self.decoder_use_separate_position_embeddings

    @property
    def patch_grid(self) -> tuple[int, int, int]:
        """The `(t, h, w)` spacetime-patch grid of the configured clip: `(num_frames / tubelet_size, image_size /
        patch_size, image_size / patch_size)`, (8, 14, 14) for the paper's 16x224x224."""
        side = self.image_size // self.patch_size
        return (self.num_frames // self.tubelet_size, side, side)

    @property
    def num_patches(self) -> int:
        """Spacetime patches (tokens, without the cls token) of the configured clip: 1568 for the paper's."""
        t, h, w = self.patch_grid
        return t * h * w

    @property
    def predicted_frames_per_token(self) -> int:
        """Frames each token's prediction covers: `tubelet_size * pred_t_dim // num_frames` [`t_pred_patch_size`]."""
        return self.tubelet_size * self.pred_t_dim // self.num_frames

    @classmethod
    def from_preset(cls, name: str, **kwargs) -> "MAESTConfig":
        """
        Build the config of an official model size.

        Args:
            name: one of `"vit-b"`, `"vit-l"`, `"vit-h"` (case-insensitive; `"ViT-B/16"` and `"base"` style names
                are accepted too).
            kwargs: any other config value, overriding the preset.

        Raises:
            ValueError: for an unknown preset name.
        """
        key = name.lower().replace("_", "-").split("/")[0]
        key = {"base": "vit-b", "large": "vit-l", "huge": "vit-h"}.get(key, key)
        if key not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}; expected one of {sorted(PRESETS)}.")
        return cls(**{**PRESETS[key], **kwargs})


__all__ = ["MAESTConfig", "PRESETS"]
