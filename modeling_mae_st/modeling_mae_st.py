"""
MAE-ST: Masked Autoencoders As Spatiotemporal Learners (Feichtenhofer, Fan, Li, He, 2022).

The method, one idea per function or module, in the order of the paper:

- `MAESTPatchEmbeddings`: cut a clip into spacetime patches (tubelet x patch x patch) and embed them.
- `MAESTEmbeddings`: add learnable position embeddings (separate spatial and temporal tables, or one joint table)
  and a cls token.
- `random_masking`: keep a random subset of patches, with no spacetime structure, by sorting uniform noise.
- `MAESTModel`: the ViT encoder, which sees only the visible patches.
- `MAESTDecoder`: a small ViT over the encoded tokens plus mask tokens restored to their places; it predicts the
  pixels of every patch.
- `MAESTForPreTraining.forward_loss`: mean squared error against per-patch normalized pixels of temporally
  subsampled frames, averaged over the masked patches only.
- `MAESTForVideoClassification`: mean of the encoder's patch tokens, the encoder's final norm, dropout, linear.

Inputs are `pixel_values` of shape (batch, frames, channels, height, width), as in every transformers video model;
the official code uses (batch, channels, frames, height, width). Tokens are ordered time-major: token
`(t * h + i) * w + j` is the patch at temporal index `t`, row `i`, column `j`.
"""

# No `from __future__ import annotations` here, as in transformers' own modeling files: transformers reads the
# `**kwargs: Unpack[TransformersKwargs]` annotations at runtime (e.g. to know a model accepts `output_attentions`).
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import ImageClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS, PreTrainedModel
from transformers.processing_utils import Unpack
from transformers.utils import ModelOutput, TransformersKwargs
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .configuration_mae_st import MAESTConfig


@dataclass
class MAESTModelOutput(ModelOutput):
    """
    Output of [`MAESTModel`].

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch, num_tokens, hidden)`):
            Encoder output after the final LayerNorm: the cls token first (when the config has one), then the
            visible patch tokens (all patches when no masking was asked for), in the order they were kept.
        pooler_output (`torch.FloatTensor` of shape `(batch, hidden)`):
            Mean of the patch tokens before the final LayerNorm, then that LayerNorm: the official classifier's
            pooling. Over the visible patches only when masking was applied.
        mask (`torch.FloatTensor` of shape `(batch, num_patches)`, *optional*):
            1 for masked patches, 0 for visible ones; `None` without masking.
        ids_restore (`torch.LongTensor` of shape `(batch, num_patches)`, *optional*):
            Position of each original patch in the shuffled (visible first) order; `None` without masking.
        hidden_states (`tuple[torch.FloatTensor]`, *optional*):
            Input of the first layer and output of every layer, each `(batch, num_tokens, hidden)`.
        attentions (`tuple[torch.FloatTensor]`, *optional*):
            Attention probabilities of every layer, each `(batch, heads, num_tokens, num_tokens)`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    mask: torch.FloatTensor | None = None
    ids_restore: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class MAESTForPreTrainingOutput(ModelOutput):
    """
    Output of [`MAESTForPreTraining`].

    Args:
        loss (`torch.FloatTensor` of shape `()`):
            Mean squared error over the masked patches (normalized pixels when `config.norm_pix_loss`).
        logits (`torch.FloatTensor` of shape `(batch, num_patches, predicted_frames_per_token * patch_size**2 *
            num_channels)`):
            Predicted pixels of every patch, visible ones included, each ordered (frame, row, column, channel).
        mask (`torch.FloatTensor` of shape `(batch, num_patches)`): 1 for masked patches, 0 for visible ones.
        ids_restore (`torch.LongTensor` of shape `(batch, num_patches)`): see [`MAESTModelOutput`].
        hidden_states, attentions: the encoder's, see [`MAESTModelOutput`].
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    mask: torch.FloatTensor | None = None
    ids_restore: torch.LongTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


def patch_grid(pixel_values: torch.Tensor, config: MAESTConfig) -> tuple[int, int, int]:
    """The `(t, h, w)` patch grid of `pixel_values` `(batch, frames, channels, height, width)`."""
    _, frames, _, height, width = pixel_values.shape
    return (frames // config.tubelet_size, height // config.patch_size, width // config.patch_size)


def check_pixel_values(pixel_values: torch.Tensor, config: MAESTConfig, interpolate_pos_encoding: bool) -> None:
    """
    Raise a `ValueError` saying what was expected unless `pixel_values` is a non-empty floating-point
    (batch, frames, channels, height, width) tensor with the config's sizes (or, with `interpolate_pos_encoding`, any
    sizes the patches divide).
    """
    expected = (
        f"(batch, {config.num_frames}, {config.num_channels}, {config.image_size}, {config.image_size})"
    )
    if not pixel_values.is_floating_point():
        raise ValueError(
            f"pixel_values must be floating point (normalized clips, as MAESTVideoProcessor returns them), got "
            f"{pixel_values.dtype}: pass raw uint8 frames through the video processor first."
        )
    if pixel_values.ndim != 5:
        raise ValueError(
            f"pixel_values must be a 5-d tensor (batch, frames, channels, height, width) = {expected}, "
            f"got shape {tuple(pixel_values.shape)}."
        )
    batch, frames, channels, height, width = pixel_values.shape
    if batch == 0:
        raise ValueError(
            f"pixel_values holds no clips (batch 0, shape {tuple(pixel_values.shape)}); expected {expected}."
        )
    if channels != config.num_channels:
        raise ValueError(
            f"pixel_values must be (batch, frames, channels, height, width) = {expected}, got shape "
            f"{tuple(pixel_values.shape)}: dimension 2 holds {channels} channels, expected {config.num_channels}. "
            "(The official layout (batch, channels, frames, height, width) needs `.transpose(1, 2)`.)"
        )
    if interpolate_pos_encoding:
        if frames % config.tubelet_size or height % config.patch_size or width % config.patch_size:
            raise ValueError(
                f"pixel_values of shape {tuple(pixel_values.shape)}: frames must be divisible by tubelet_size "
                f"({config.tubelet_size}) and height and width by patch_size ({config.patch_size})."
            )
    elif (frames, height, width) != (config.num_frames, config.image_size, config.image_size):
        raise ValueError(
            f"pixel_values must have shape {expected}, got {tuple(pixel_values.shape)}. Pass "
            "`interpolate_pos_encoding=True` to run on other frame counts or resolutions."
        )


def random_masking(
    batch: int,
    num_patches: int,
    mask_ratio: float,
    noise: torch.Tensor | None = None,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Keep a random `int(num_patches * (1 - mask_ratio))` patches per sample by sorting uniform noise: the patches
    with the smallest noise are kept (as the official `random_masking`). No host synchronization: the kept count is
    known from the shapes.

    Args:
        mask_ratio: fraction to mask, in [0, 1).
        noise: `(batch, num_patches)`; drawn from U[0, 1) on `device` when `None`. Passing the official noise
            reproduces the official mask.

    Returns:
        mask `(batch, num_patches)` of `dtype` (1 = masked), ids_restore `(batch, num_patches)` and ids_keep
        `(batch, num_kept)`, the kept patches in the order the encoder sees them.
    """
    if not 0.0 <= mask_ratio < 1.0:  # 1.0 hid every patch and a negative ratio none (loss 0), silently
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}.")
    len_keep = int(num_patches * (1 - mask_ratio))
    if noise is None:
        noise = torch.rand(batch, num_patches, device=device)
    elif noise.shape != (batch, num_patches):
        raise ValueError(f"noise must have shape (batch, num_patches) = {(batch, num_patches)}, got {tuple(noise.shape)}.")
    ids_shuffle = torch.argsort(noise.to(device), dim=1)  # ascending: small is kept
    return _masking_from_shuffle(ids_shuffle, len_keep, dtype)


def masking_from_bool(
    bool_masked_pos: torch.Tensor,
    batch: int,
    num_patches: int,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """
    Masking chosen by the caller: `bool_masked_pos` `(batch, num_patches)` is True where a patch is masked. Every
    sample must mask the same number of patches (checked, which reads the counts on the host). Visible patches keep
    their original order. Returns mask, ids_restore and ids_keep as [`random_masking`].
    """
    if bool_masked_pos.shape != (batch, num_patches):
        raise ValueError(
            f"bool_masked_pos must have shape (batch, num_patches) = {(batch, num_patches)}, "
            f"got {tuple(bool_masked_pos.shape)}."
        )
    bool_masked_pos = bool_masked_pos.to(device=device, dtype=torch.bool)
    counts = bool_masked_pos.sum(dim=1)
    if not bool(torch.all(counts == counts[0])):
        raise ValueError(f"bool_masked_pos must mask the same number of patches in every sample, got {counts.tolist()}.")
    ids_shuffle = torch.argsort(bool_masked_pos.to(torch.int8), dim=1, stable=True)
    return _masking_from_shuffle(ids_shuffle, num_patches - int(counts[0]), dtype)


def _masking_from_shuffle(
    ids_shuffle: torch.Tensor, len_keep: int, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch, num_patches = ids_shuffle.shape
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(batch, num_patches, device=ids_shuffle.device, dtype=dtype)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)
    return mask, ids_restore, ids_shuffle[:, :len_keep]


def separate_position_embeddings(
    spatial: torch.Tensor, temporal: torch.Tensor, grid: tuple[int, int, int], trained_grid: tuple[int, int, int]
) -> torch.Tensor:
    """
    Sum separate tables into one embedding per token, time-major.

    Args:
        spatial: `(1, trained_h * trained_w, hidden)`.
        temporal: `(1, trained_t, hidden)`.
        grid: `(t, h, w)` of the input; tables are interpolated (bicubic in space, linear in time) when it differs
            from `trained_grid`.

    Returns:
        `(1, t * h * w, hidden)`.
    """
    t, h, w = grid
    trained_t, trained_h, trained_w = trained_grid
    hidden = spatial.shape[-1]
    if (h, w) != (trained_h, trained_w):
        spatial = spatial.reshape(1, trained_h, trained_w, hidden).permute(0, 3, 1, 2)
        spatial = F.interpolate(spatial.float(), size=(h, w), mode="bicubic", align_corners=False).to(temporal.dtype)
        spatial = spatial.permute(0, 2, 3, 1).reshape(1, h * w, hidden)
    if t != trained_t:
        temporal = F.interpolate(temporal.transpose(1, 2).float(), size=t, mode="linear", align_corners=False)
        temporal = temporal.transpose(1, 2).to(spatial.dtype)
    return spatial.repeat(1, t, 1) + torch.repeat_interleave(temporal, h * w, dim=1)


def resize_joint_position_embeddings(
    table: torch.Tensor, grid: tuple[int, int, int], trained_grid: tuple[int, int, int]
) -> torch.Tensor:
    """
    Interpolate a joint `(1, trained_t * trained_h * trained_w, hidden)` table to `(1, t * h * w, hidden)`:
    bicubic in space per temporal slice, then linear in time (the official code never interpolates in time).
    """
    if tuple(grid) == tuple(trained_grid):
        return table
    t, h, w = grid
    trained_t, trained_h, trained_w = trained_grid
    hidden = table.shape[-1]
    dtype = table.dtype
    volume = table.reshape(trained_t, trained_h, trained_w, hidden).permute(0, 3, 1, 2).float()
    if (h, w) != (trained_h, trained_w):
        volume = F.interpolate(volume, size=(h, w), mode="bicubic", align_corners=False)  # (trained_t, hidden, h, w)
    if t != trained_t:
        series = volume.permute(1, 2, 3, 0).reshape(1, hidden * h * w, trained_t)
        series = F.interpolate(series, size=t, mode="linear", align_corners=False)
        volume = series.reshape(hidden, h, w, t).permute(3, 0, 1, 2)  # (t, hidden, h, w)
    return volume.permute(0, 2, 3, 1).reshape(1, t * h * w, hidden).to(dtype)


class MAESTPatchEmbeddings(nn.Module):
    """
    Cut `(batch, frames, channels, height, width)` into spacetime patches and embed each: `(batch, t*h*w, hidden)`,
    or only the patches `ids_keep` `(batch, num_kept)` names: `(batch, num_kept, hidden)`.
    """

    def __init__(self, config: MAESTConfig):
        super().__init__()
        kernel = (config.tubelet_size, config.patch_size, config.patch_size)
        self.projection = nn.Conv3d(config.num_channels, config.hidden_size, kernel_size=kernel, stride=kernel)

    def forward(
        self, pixel_values: torch.Tensor, ids_keep: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[int, int, int]]:
        pixel_values = pixel_values.to(self.projection.weight.dtype)
        if ids_keep is None:
            # (batch, frames, channels, height, width) -> (batch, channels, frames, height, width) for Conv3d
            embeddings = self.projection(pixel_values.transpose(1, 2))
            grid = tuple(embeddings.shape[2:])  # (t, h, w)
            return embeddings.flatten(2).transpose(1, 2), grid  # (batch, t*h*w, hidden)
        # The convolution's product on the kept patches only: the masked ones would be embedded to be dropped
        # (90% of them in pretraining).
        batch, frames, channels, height, width = pixel_values.shape
        tubelet, patch = self.projection.kernel_size[:2]
        t, h, w = frames // tubelet, height // patch, width // patch
        tubelets = pixel_values.reshape(batch, t, tubelet, channels, h, patch, w, patch)  # a view
        index_t, index_hw = ids_keep // (h * w), ids_keep % (h * w)  # token (t * h + i) * w + j
        rows = torch.arange(batch, device=ids_keep.device)[:, None]
        patches = tubelets[rows, index_t, :, :, index_hw // w, :, index_hw % w, :]  # (batch, kept, tubelet, c, p, p)
        patches = patches.transpose(2, 3).flatten(2)  # (batch, kept, c * tubelet * p * p): the kernel's layout
        return F.linear(patches, self.projection.weight.flatten(1), self.projection.bias), (t, h, w)


def sincos_position_embeddings(grid: tuple[int, int, int], hidden_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """
    Fixed sine-cosine position values for a `(t, h, w)` patch grid: spatial `(h*w, hidden)` and temporal
    `(t, hidden)`, in disjoint channels so that their sum per token is the 3D table (time in the last quarter,
    rows and columns sharing the rest, each as ViTMAE's 1D sin-cos; leftover channels stay 0).
    """
    t, h, w = grid
    time_dim = 2 * (hidden_size // 8)
    axis_dim = 2 * ((hidden_size - time_dim) // 4)

    def sincos(positions: int, dim: int) -> torch.Tensor:  # (positions, dim), as ViTMAE's 1D table
        omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2))
        angles = torch.arange(positions, dtype=torch.float64)[:, None] * omega
        return torch.cat([angles.sin(), angles.cos()], dim=1).float()

    spatial = torch.zeros(h, w, hidden_size)
    spatial[..., :axis_dim] = sincos(h, axis_dim)[:, None]
    spatial[..., axis_dim : 2 * axis_dim] = sincos(w, axis_dim)[None]
    temporal = torch.zeros(t, hidden_size)
    temporal[:, hidden_size - time_dim :] = sincos(t, time_dim)
    return spatial.reshape(h * w, hidden_size), temporal


class MAESTPositionEmbeddings(nn.Module):
    """
    Learnable position embeddings of the patch grid and of the cls slot: separate spatial `(1, h*w, hidden)` and
    temporal `(1, t, hidden)` tables summed per token plus one for the cls slot [`pos_embed_spatial`,
    `pos_embed_temporal`, `pos_embed_class`], or one joint `(1, [1 +] t*h*w, hidden)` table whose first row is the
    cls slot [`pos_embed`]. The encoder and the decoder each have one.
    """

    def __init__(self, config: MAESTConfig, hidden_size: int, separate: bool):
        super().__init__()
        self.separate = separate
        self.num_cls = int(config.use_cls_token)
        self.trained_grid = config.patch_grid
        side = self.trained_grid[1]
        if separate:
            self.spatial = nn.Parameter(torch.zeros(1, side * side, hidden_size))
            self.temporal = nn.Parameter(torch.zeros(1, self.trained_grid[0], hidden_size))
            self.cls_slot = nn.Parameter(torch.zeros(1, 1, hidden_size)) if self.num_cls else None
        else:
            self.joint = nn.Parameter(torch.zeros(1, self.num_cls + math.prod(self.trained_grid), hidden_size))

    def for_patches(self, grid: tuple[int, int, int]) -> torch.Tensor:
        """`(1, t*h*w, hidden)` for the patch tokens of an input with patch grid `grid` (interpolated if needed)."""
        if self.separate:
            return separate_position_embeddings(self.spatial, self.temporal, grid, self.trained_grid)
        return resize_joint_position_embeddings(self.joint[:, self.num_cls :], grid, self.trained_grid)

    def for_cls(self) -> torch.Tensor:
        """`(1, 1, hidden)` for the cls slot."""
        return self.cls_slot if self.separate else self.joint[:, :1]


class MAESTEmbeddings(nn.Module):
    """Patch embeddings plus learnable position embeddings, and the cls token (with its own position embedding)."""

    def __init__(self, config: MAESTConfig):
        super().__init__()
        self.config = config
        self.patch_embeddings = MAESTPatchEmbeddings(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size)) if config.use_cls_token else None
        self.position_embeddings = MAESTPositionEmbeddings(
            config, config.hidden_size, config.use_separate_position_embeddings
        )

    def cls_embedding(self) -> torch.Tensor:
        """The cls token plus its position embedding, `(1, 1, hidden)`."""
        return self.cls_token + self.position_embeddings.for_cls()

    def forward(
        self,
        pixel_values: torch.Tensor,
        interpolate_pos_encoding: bool = False,
        mask_ratio: float | None = None,
        noise: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, tuple[int, int, int], torch.Tensor | None, torch.Tensor | None]:
        """
        Patch tokens with their position embeddings and the grid `(t, h, w)`. With `bool_masked_pos`, or with
        `mask_ratio` (and `noise`, see [`random_masking`]), only the visible patches are embedded.

        Returns:
            embeddings `(batch, num_visible or t*h*w, hidden)`, the grid, and the mask and ids_restore
            `(batch, t*h*w)` when masking (`None` otherwise).
        """
        check_pixel_values(pixel_values, self.config, interpolate_pos_encoding)
        batch = len(pixel_values)
        grid = patch_grid(pixel_values, self.config)
        mask = ids_restore = ids_keep = None
        dtype = self.patch_embeddings.projection.weight.dtype
        if bool_masked_pos is not None:
            mask, ids_restore, ids_keep = masking_from_bool(
                bool_masked_pos, batch, math.prod(grid), pixel_values.device, dtype
            )
        elif mask_ratio is not None:
            mask, ids_restore, ids_keep = random_masking(
                batch, math.prod(grid), mask_ratio, noise, pixel_values.device, dtype
            )
        embeddings, _ = self.patch_embeddings(pixel_values, ids_keep)
        position = self.position_embeddings.for_patches(grid)  # (1, t*h*w, hidden)
        if ids_keep is not None:
            position = position[0][ids_keep]  # (batch, num_visible, hidden)
        return embeddings + position, grid, mask, ids_restore


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Unpack[TransformersKwargs],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Plain softmax attention. query, key, value: `(batch, heads, num_tokens, head_dim)`."""
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = F.softmax(attn_weights, dim=-1, dtype=torch.float32).to(query.dtype)
    attn_weights = F.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()  # (batch, num_tokens, heads, head_dim)
    return attn_output, attn_weights


class MAESTAttention(nn.Module):
    """Multi-head self-attention through transformers' attention interface (sdpa, eager, flash attention...)."""

    def __init__(self, config: MAESTConfig, hidden_size: int, num_attention_heads: int):
        super().__init__()
        # The shared config object, not a copy, so that a later `set_attn_implementation` reaches the decoder too.
        self.config = config
        self.num_attention_heads = num_attention_heads
        self.head_dim = hidden_size // num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.q_proj = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.k_proj = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.v_proj = nn.Linear(hidden_size, hidden_size, bias=config.qkv_bias)
        self.o_proj = nn.Linear(hidden_size, hidden_size)

    def forward(
        self, hidden_states: torch.Tensor, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        # (batch, num_tokens, hidden) -> (batch, heads, num_tokens, head_dim)
        query = self.q_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.k_proj(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.v_proj(hidden_states).view(hidden_shape).transpose(1, 2)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            None,
            dropout=self.config.attention_probs_dropout_prob if self.training else 0.0,
            scaling=self.scaling,
            is_causal=False,
            **kwargs,
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        return self.o_proj(attn_output), attn_weights


class MAESTMLP(nn.Module):
    def __init__(self, config: MAESTConfig, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.activation_fn = ACT2FN[config.hidden_act]
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(hidden_states)))


class MAESTDropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch of a sample with probability `drop_prob` while training."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return hidden_states
        keep_prob = 1 - self.drop_prob
        shape = (hidden_states.shape[0],) + (1,) * (hidden_states.ndim - 1)
        keep = hidden_states.new_empty(shape).bernoulli_(keep_prob)
        return hidden_states * keep / keep_prob

    def extra_repr(self) -> str:
        return f"p={self.drop_prob}"


class MAESTLayer(GradientCheckpointingLayer):
    """Pre-norm transformer block: `x + attn(norm(x))`, then `x + mlp(norm(x))`, each branch with drop path."""

    def __init__(
        self,
        config: MAESTConfig,
        hidden_size: int,
        num_attention_heads: int,
        intermediate_size: int,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.layernorm_before = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.attention = MAESTAttention(config, hidden_size, num_attention_heads)
        self.layernorm_after = nn.LayerNorm(hidden_size, eps=config.layer_norm_eps)
        self.mlp = MAESTMLP(config, hidden_size, intermediate_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.drop_path = MAESTDropPath(drop_path)

    def forward(self, hidden_states: torch.Tensor, **kwargs: Unpack[TransformersKwargs]) -> torch.Tensor:
        attention_output, _ = self.attention(self.layernorm_before(hidden_states), **kwargs)
        hidden_states = hidden_states + self.drop_path(self.dropout(attention_output))
        mlp_output = self.mlp(self.layernorm_after(hidden_states))
        return hidden_states + self.drop_path(self.dropout(mlp_output))


class MAESTDecoder(nn.Module):
    """
    The MAE decoder: embeds the encoder's tokens to the decoder width, puts mask tokens where patches were hidden,
    adds decoder position embeddings and predicts the pixels of every patch.
    """

    def __init__(self, config: MAESTConfig):
        super().__init__()
        self.config = config
        hidden = config.decoder_hidden_size
        self.decoder_embed = nn.Linear(config.hidden_size, hidden)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, hidden))
        learned_cls = config.use_cls_token and not config.decoder_cls_from_encoder
        self.decoder_cls_token = nn.Parameter(torch.zeros(1, 1, hidden)) if learned_cls else None
        self.position_embeddings = MAESTPositionEmbeddings(config, hidden, config.decoder_separate_position_embeddings)
        self.layers = nn.ModuleList(
            [
                MAESTLayer(config, hidden, config.decoder_num_attention_heads, config.decoder_intermediate_size)
                for _ in range(config.decoder_num_hidden_layers)
            ]
        )
        self.decoder_norm = nn.LayerNorm(hidden, eps=config.layer_norm_eps)
        pixels_per_token = config.predicted_frames_per_token * config.patch_size**2 * config.num_channels
        self.decoder_pred = nn.Linear(hidden, pixels_per_token)

    def forward(
        self, hidden_states: torch.Tensor, ids_restore: torch.Tensor, grid: tuple[int, int, int], **kwargs
    ) -> torch.Tensor:
        """
        Args:
            hidden_states: encoder output `(batch, [1 +] num_visible, hidden)`, cls token first when used.
            ids_restore: `(batch, num_patches)`.
            grid: `(t, h, w)` patch grid of the input.

        Returns:
            predicted pixels `(batch, num_patches, predicted_frames_per_token * patch_size**2 * channels)`.
        """
        num_cls = int(self.config.use_cls_token)
        hidden_states = self.decoder_embed(hidden_states)  # (batch, [1 +] num_visible, decoder_hidden)
        batch, _, hidden = hidden_states.shape
        visible = hidden_states[:, num_cls:]
        mask_tokens = self.mask_token.expand(batch, ids_restore.shape[1] - visible.shape[1], -1).to(visible.dtype)
        patches = torch.cat([visible, mask_tokens], dim=1)
        patches = torch.gather(patches, dim=1, index=ids_restore.unsqueeze(-1).expand(-1, -1, hidden))  # unshuffle
        patches = patches + self.position_embeddings.for_patches(grid)
        if num_cls:
            if self.config.decoder_cls_from_encoder:
                cls = hidden_states[:, :1]
            else:
                cls = self.decoder_cls_token.expand(batch, -1, -1).to(patches.dtype)
            # position embeddings are added before concatenating so that each table's gradient keeps its own layout
            patches = torch.cat([cls + self.position_embeddings.for_cls(), patches], dim=1)
        hidden_states = patches

        for layer in self.layers:
            hidden_states = layer(hidden_states, **kwargs)
        hidden_states = self.decoder_norm(hidden_states)
        return self.decoder_pred(hidden_states)[:, num_cls:]


class MAESTPreTrainedModel(PreTrainedModel):
    config: MAESTConfig
    config_class = MAESTConfig
    base_model_prefix = "mae_st"
    main_input_name = "pixel_values"
    input_modalities = "video"
    supports_gradient_checkpointing = True
    # The losses are means over the batch's samples (or hidden patches): `num_items_in_batch` does not reach them.
    # Unsaid, the Trainer takes the `**kwargs` of `forward` (attention options) for loss arguments and stops dividing
    # by the gradient-accumulation steps: N accumulation steps gave N times the loss and gradients.
    accepts_loss_kwargs = False
    _no_split_modules = ["MAESTEmbeddings", "MAESTLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _can_record_outputs = {
        "hidden_states": MAESTLayer,
        "attentions": MAESTAttention,
    }

    def save_pretrained(self, save_directory, *args, **kwargs):
        """
        transformers' `save_pretrained`. With this class registered for its Auto class (`import modeling_mae_st` does
        it, as transformers does for code loaded with `trust_remote_code`), transformers copies this file and the
        configuration's beside the weights; `auto_map` then names every model of the file ([`AUTO_CLASSES`]), so
        that each Auto class loads the folder, the encoder out of a classifier's folder say, as in the tools' folders.
        """
        if self.is_remote_code():
            module = type(self).__module__.rsplit(".", 1)[-1]  # (loaded as remote code: transformers_modules.<...>)
            entries = {auto_class: f"{module}.{model.__name__}" for auto_class, model in AUTO_CLASSES.items()}
            self.config.auto_map = {**(getattr(self.config, "auto_map", None) or {}), **entries}
        return super().save_pretrained(save_directory, *args, **kwargs)

    def _init_weights(self, module: nn.Module) -> None:
        """Initialization of the official code (facebookresearch/mae_st `models_mae.py`)."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear) and module is getattr(self, "classifier", None):
            # the official head (mae_st `models_vit.py`): normal(0, 0.02) weights, PyTorch's default bias. (Under the
            # branch below, this head used to get xavier weights, which marked it initialized.)
            init.normal_(module.weight, std=std)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.in_features)
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Linear):
            # xavier_uniform, following the official JAX ViT
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Conv3d):
            # xavier_uniform on the flattened kernel as in the official code; the bias keeps PyTorch's default
            # rule, which the official code never overrides
            init.xavier_uniform_(module.weight.view(module.weight.shape[0], -1))
            if module.bias is not None:
                bound = 1 / math.sqrt(math.prod(module.weight.shape[1:]))
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, MAESTPositionEmbeddings):
            for param in module.parameters(recurse=False):
                init.trunc_normal_(param, std=std)
            if self.config.position_embedding_init == "sincos":
                spatial, temporal = sincos_position_embeddings(module.trained_grid, param.shape[-1])
                if module.separate:
                    init.copy_(module.spatial, spatial[None])
                    init.copy_(module.temporal, temporal[None])
                    if module.cls_slot is not None:
                        init.zeros_(module.cls_slot)
                else:  # (1, [1 +] t*h*w, hidden), the cls slot first
                    joint = (temporal[:, None] + spatial[None]).reshape(1, -1, param.shape[-1])
                    init.copy_(module.joint, F.pad(joint, (0, 0, module.num_cls, 0)))
        elif isinstance(module, MAESTEmbeddings):
            if module.cls_token is not None:
                init.trunc_normal_(module.cls_token, std=std)
        elif isinstance(module, MAESTDecoder):
            init.normal_(module.mask_token, std=std)
            if module.decoder_cls_token is not None:
                init.zeros_(module.decoder_cls_token)  # never initialized by the official code


class MAESTModel(MAESTPreTrainedModel):
    """
    The MAE-ST ViT encoder. Without masking arguments it encodes every patch (fine-tuning, features). With `noise`,
    `mask_ratio` or `bool_masked_pos` it encodes only the visible patches, as during pretraining.
    """

    # Loading the encoder out of a pretraining or a classifier folder is the normal use (features, mae-st-embed): the
    # decoder's or the classifier's weights are expected there and left out quietly (transformers collects these
    # patterns into the models that hold an encoder). A missing encoder weight is still reported.
    _keys_to_ignore_on_load_unexpected = [r"^decoder\.", r"^classifier\."]

    def __init__(self, config: MAESTConfig):
        super().__init__(config)
        self.config = config
        self.embeddings = MAESTEmbeddings(config)
        # on the CPU explicitly: under a `torch.device("meta")` context (loading, `init_empty_weights`) `.tolist()`
        # of a meta tensor fails
        drop_path = torch.linspace(0, config.drop_path_rate, config.num_hidden_layers, device="cpu").tolist()
        self.layers = nn.ModuleList(
            [
                MAESTLayer(
                    config,
                    config.hidden_size,
                    config.num_attention_heads,
                    config.intermediate_size,
                    drop_path=drop_path[i],
                )
                for i in range(config.num_hidden_layers)
            ]
        )
        self.layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.embeddings.patch_embeddings

    @merge_with_config_defaults
    @capture_outputs(tie_last_hidden_states=False)
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        mask_ratio: float | None = None,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MAESTModelOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, frames, channels, height, width)`):
                Normalized clips, e.g. from [`MAESTVideoProcessor`].
            noise (`torch.FloatTensor` of shape `(batch, num_patches)`, *optional*):
                Uniform noise whose sort chooses the visible patches (smallest kept); masks with `mask_ratio`.
            bool_masked_pos (`torch.BoolTensor` of shape `(batch, num_patches)`, *optional*):
                Your own mask, True = hidden; the same count in every sample.
            mask_ratio (`float`, *optional*):
                Mask this fraction at random. With `noise` and no ratio, `config.mask_ratio` is used.
            interpolate_pos_encoding (`bool`, defaults to `False`):
                Interpolate the position embeddings to the input's frame count and resolution.

        Raises:
            ValueError: when `pixel_values` is not a non-empty floating-point tensor of the expected shape, or when
                `bool_masked_pos` comes with `noise` or `mask_ratio` (it fixes the mask alone).
        """
        if pixel_values is None:
            raise ValueError("pixel_values of shape (batch, frames, channels, height, width) are required.")
        if bool_masked_pos is not None and (noise is not None or mask_ratio is not None):
            given = " and ".join(
                name for name, value in (("noise", noise), ("mask_ratio", mask_ratio)) if value is not None
            )
            raise ValueError(
                f"bool_masked_pos fixes the mask; {given} would be ignored: pass either bool_masked_pos, or "
                "noise and/or mask_ratio."
            )
        if bool_masked_pos is None and (noise is not None or mask_ratio is not None):
            mask_ratio = self.config.mask_ratio if mask_ratio is None else mask_ratio
        embeddings, _, mask, ids_restore = self.embeddings(
            pixel_values,
            interpolate_pos_encoding=interpolate_pos_encoding,
            mask_ratio=mask_ratio,
            noise=noise,
            bool_masked_pos=bool_masked_pos,
        )

        num_cls = int(self.config.use_cls_token)
        if num_cls:
            cls = self.embeddings.cls_embedding().expand(embeddings.shape[0], -1, -1)
            embeddings = torch.cat([cls, embeddings], dim=1)

        hidden_states = embeddings
        for layer in self.layers:
            hidden_states = layer(hidden_states, **kwargs)

        # The classifier pools before the final norm; the MAE decoder reads normed tokens. One LayerNorm serves both.
        pooled = self.layernorm(hidden_states[:, num_cls:].mean(dim=1))
        return MAESTModelOutput(
            last_hidden_state=self.layernorm(hidden_states),
            pooler_output=pooled,
            mask=mask,
            ids_restore=ids_restore,
        )

    @can_return_tuple
    def get_video_features(
        self,
        pixel_values: torch.Tensor,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MAESTModelOutput:
        """
        Encode clips without masking, as transformers' `get_video_features` convention asks: the output's
        `pooler_output` `(batch, hidden)` is one vector per clip (the mean of the patch tokens, then the encoder's
        final LayerNorm: the pooling the classifier uses), `last_hidden_state` `(batch, [1 +] num_patches, hidden)`
        the tokens. Wrap the call in `torch.no_grad()` when you only need features.
        """
        return self(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs)


class MAESTForPreTraining(MAESTPreTrainedModel):
    """The MAE-ST encoder with the MAE decoder and the pixel reconstruction loss, as the official pretraining model."""

    def __init__(self, config: MAESTConfig):
        super().__init__(config)
        self.mae_st = MAESTModel(config)
        self.decoder = MAESTDecoder(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.mae_st.embeddings.patch_embeddings

    def patch_grid(self, pixel_values: torch.Tensor) -> tuple[int, int, int]:
        """The `(t, h, w)` patch grid of `pixel_values` `(batch, frames, channels, height, width)`."""
        return patch_grid(pixel_values, self.config)

    def target_frame_indices(self, num_frames: int, device: torch.device | None = None) -> torch.Tensor:
        """
        Indices of the input frames the target is made of, `(num_target_frames,)`: `pred_t_dim` frames for the
        configured clip length (scaled with it for other lengths), by `linspace` (mae_st) or a stride (PySlowFast).
        """
        tokens_in_time = num_frames // self.config.tubelet_size
        count = tokens_in_time * self.config.predicted_frames_per_token
        if self.config.target_frame_sampling == "stride":
            return torch.arange(0, num_frames, num_frames // count, device=device)[:count]
        return torch.linspace(0, num_frames - 1, count, device=device).long()

    def patchify(self, frames: torch.Tensor) -> torch.Tensor:
        """
        Cut target frames into per-token pixel vectors.

        Args:
            frames: `(batch, t * u, channels, height, width)` where `u = config.predicted_frames_per_token`.

        Returns:
            `(batch, t*h*w, u * patch_size**2 * channels)`, each vector ordered (frame, row, column, channel) as the
            official `patchify`.
        """
        batch, num_frames, channels, height, width = frames.shape
        p, u = self.config.patch_size, self.config.predicted_frames_per_token
        t, h, w = num_frames // u, height // p, width // p
        x = frames.reshape(batch, t, u, channels, h, p, w, p)
        x = torch.einsum("btucipjq->btijupqc", x)
        return x.reshape(batch, t * h * w, u * p * p * channels)

    def unpatchify(self, patches: torch.Tensor, grid: tuple[int, int, int] | None = None) -> torch.Tensor:
        """
        Inverse of [`patchify`]: `(batch, t*h*w, u * p * p * channels)` to frames `(batch, t*u, channels, H, W)`.
        `grid` `(t, h, w)` defaults to the configured input size.
        """
        if grid is None:
            grid = self.config.patch_grid
        t, h, w = grid
        batch = patches.shape[0]
        p, u, c = self.config.patch_size, self.config.predicted_frames_per_token, self.config.num_channels
        x = patches.reshape(batch, t, h, w, u, p, p, c)
        x = torch.einsum("btijupqc->btucipjq", x)
        return x.reshape(batch, t * u, c, h * p, w * p)

    def target_patches(self, pixel_values: torch.Tensor, normalize: bool | None = None) -> torch.Tensor:
        """
        The reconstruction target `(batch, num_patches, u * p * p * channels)`: target frames patchified and, when
        `norm_pix_loss` (or `normalize`), normalized per patch by its mean and unbiased variance (eps 1e-6).
        """
        indices = self.target_frame_indices(pixel_values.shape[1], device=pixel_values.device)
        target = self.patchify(pixel_values.index_select(1, indices))
        if self.config.norm_pix_loss if normalize is None else normalize:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        return target

    def forward_loss(self, pixel_values: torch.Tensor, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """
        Mean over masked patches of the per-patch mean squared error. `mask`: `(batch, num_patches)`, 1 = masked.
        With nothing masked (`mask_ratio=0`) the loss is 0 with zero gradients, not the official 0 / 0 = NaN, which
        would turn every weight into NaN at the next optimizer step.
        """
        target = self.target_patches(pixel_values)
        loss = ((logits.float() - target.float()) ** 2).mean(dim=-1)  # (batch, num_patches)
        mask = mask.to(loss.dtype)
        return (loss * mask).sum() / mask.sum().clamp_min(1)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        noise: torch.Tensor | None = None,
        bool_masked_pos: torch.Tensor | None = None,
        mask_ratio: float | None = None,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MAESTForPreTrainingOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, frames, channels, height, width)`).
            noise (`torch.FloatTensor` of shape `(batch, num_patches)`, *optional*): fixes the random mask.
            bool_masked_pos (`torch.BoolTensor` of shape `(batch, num_patches)`, *optional*): your own mask.
            mask_ratio (`float`, *optional*): defaults to `config.mask_ratio`.
            interpolate_pos_encoding (`bool`, defaults to `False`): run on other frame counts or resolutions.
        """
        if bool_masked_pos is None and mask_ratio is None:
            mask_ratio = self.config.mask_ratio
        outputs = self.mae_st(
            pixel_values,
            noise=noise,
            bool_masked_pos=bool_masked_pos,
            mask_ratio=mask_ratio,
            interpolate_pos_encoding=interpolate_pos_encoding,
            **kwargs,
        )
        logits = self.decoder(outputs.last_hidden_state, outputs.ids_restore, self.patch_grid(pixel_values))
        loss = self.forward_loss(pixel_values, logits, outputs.mask)
        return MAESTForPreTrainingOutput(
            loss=loss,
            logits=logits,
            mask=outputs.mask,
            ids_restore=outputs.ids_restore,
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
        )


class MAESTForVideoClassification(MAESTPreTrainedModel):
    """
    The official fine-tuning model: mean of the encoder's patch tokens, the encoder's final LayerNorm, dropout and a
    linear classifier.

    The official code averages `tokens[:, 1:]` even when there is no cls token, silently dropping the first patch;
    this model averages all patch tokens (and excludes the cls token when there is one).
    """

    def __init__(self, config: MAESTConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.mae_st = MAESTModel(config)
        self.dropout = nn.Dropout(config.classifier_dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.mae_st.embeddings.patch_embeddings

    @can_return_tuple
    def get_video_features(
        self,
        pixel_values: torch.Tensor,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MAESTModelOutput:
        """The encoder's [`MAESTModel.get_video_features`]: `pooler_output` is the vector the classifier reads."""
        return self.mae_st.get_video_features(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs)

    @can_return_tuple
    def forward(
        self,
        pixel_values: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        interpolate_pos_encoding: bool = False,
        **kwargs: Unpack[TransformersKwargs],
    ) -> ImageClassifierOutput:
        r"""
        Args:
            pixel_values (`torch.FloatTensor` of shape `(batch, frames, channels, height, width)`).
            labels (`torch.LongTensor` of shape `(batch,)` or `torch.FloatTensor` of shape `(batch, num_labels)`,
                *optional*): class indices, or soft targets (mixup/cutmix, label smoothing) whose rows sum to 1,
                for a cross-entropy loss. `config.problem_type` "regression" or "multi_label_classification"
                selects mean squared error or binary cross-entropy instead.
        """
        outputs = self.mae_st(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding, **kwargs)
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            loss = self.classification_loss(logits, labels.to(logits.device))
        return ImageClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )

    def classification_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy for class indices or soft targets; MSE or BCE when `config.problem_type` asks for it."""
        if self.config.problem_type == "regression" or (self.config.problem_type is None and self.num_labels == 1):
            return F.mse_loss(logits.squeeze(-1).float(), labels.squeeze(-1).float())
        if self.config.problem_type == "multi_label_classification":
            return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
        if labels.is_floating_point() and labels.shape == logits.shape:
            return torch.sum(-labels.float() * F.log_softmax(logits.float(), dim=-1), dim=-1).mean()
        return F.cross_entropy(logits.float().view(-1, self.num_labels), labels.view(-1).long())


# The Auto class that loads each model: `auto_map` in a saved folder, and the registrations of `modeling_mae_st`
AUTO_CLASSES = {
    "AutoModel": MAESTModel,
    "AutoModelForPreTraining": MAESTForPreTraining,
    "AutoModelForVideoClassification": MAESTForVideoClassification,
}


__all__ = [
    "AUTO_CLASSES",
    "MAESTModel",
    "MAESTForPreTraining",
    "MAESTForVideoClassification",
    "MAESTPreTrainedModel",
    "MAESTModelOutput",
    "MAESTForPreTrainingOutput",
]
