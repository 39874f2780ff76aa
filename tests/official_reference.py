"""
An independent, functional re-statement of the official facebookresearch/mae_st forward passes
(`models_mae.MaskedAutoencoderViT`, `models_vit.VisionTransformer`) that reads official-format state dicts directly.

It exists so that the converter and the models can be checked against the official computation on configurations
the shipped fixtures do not cover (joint position tables, no cls token, no qkv bias, other patch sizes). It follows
the official code's order of operations, including its layout (batch, channels, frames, height, width).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def _layer_norm(x, sd, prefix):
    return F.layer_norm(x, x.shape[-1:], sd[prefix + ".weight"], sd[prefix + ".bias"], eps=1e-6)


def _linear(x, sd, prefix):
    return F.linear(x, sd[prefix + ".weight"], sd.get(prefix + ".bias"))


def _block(x, sd, prefix, num_heads):
    batch, tokens, width = x.shape
    h = _layer_norm(x, sd, prefix + ".norm1")
    q, k, v = (
        _linear(h, sd, f"{prefix}.attn.{name}").reshape(batch, tokens, num_heads, -1).permute(0, 2, 1, 3)
        for name in ("q", "k", "v")
    )
    attn = (q @ k.transpose(-2, -1)) * (width // num_heads) ** -0.5
    h = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(batch, tokens, width)
    x = x + _linear(h, sd, prefix + ".attn.proj")
    h = _linear(F.gelu(_linear(_layer_norm(x, sd, prefix + ".norm2"), sd, prefix + ".mlp.fc1")), sd, prefix + ".mlp.fc2")
    return x + h


def _patch_embed(imgs, sd, cfg):
    kernel = (cfg["t_patch_size"], cfg["patch_size"], cfg["patch_size"])
    x = F.conv3d(imgs, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=kernel)
    x = torch.einsum("ncts->ntsc", x.flatten(3))  # (N, T, H*W, C)
    n, t, s, c = x.shape
    return x.reshape(n, t * s, c), (t, s)


def _full_pos(sd, prefix, grid, cls_embed, sep):
    """Position embeddings of all tokens, cls slot first when used (official layout)."""
    t, s = grid
    if sep:
        pos = sd[prefix + "_spatial"].repeat(1, t, 1) + torch.repeat_interleave(sd[prefix + "_temporal"], s, dim=1)
        if cls_embed:
            pos = torch.cat([sd[prefix + "_class"], pos], 1)
        return pos
    return sd[prefix]


def pretraining_forward(sd, cfg, imgs, noise, mask_ratio):
    """Official `MaskedAutoencoderViT.forward(imgs, mask_ratio)` with the uniform noise given. Returns loss, pred, mask."""
    cls_embed, sep = cfg.get("cls_embed", False), cfg.get("sep_pos_embed", False)
    x, grid = _patch_embed(imgs, sd, cfg)
    n, length, c = x.shape
    len_keep = int(length * (1 - mask_ratio))
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    x = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, c))
    mask = torch.ones(n, length)
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    if cls_embed:
        x = torch.cat([sd["cls_token"].expand(n, -1, -1), x], 1)
    pos = _full_pos(sd, "pos_embed", grid, cls_embed, sep).expand(n, -1, -1)
    cls_pos, patch_pos = pos[:, : int(cls_embed)], pos[:, int(cls_embed) :]
    patch_pos = torch.gather(patch_pos, 1, ids_keep.unsqueeze(-1).repeat(1, 1, c))
    x = x + torch.cat([cls_pos, patch_pos], 1)
    for i in range(cfg["depth"]):
        x = _block(x, sd, f"blocks.{i}", cfg["num_heads"])
    x = _layer_norm(x, sd, "norm")[:, int(cls_embed) :]

    x = _linear(x, sd, "decoder_embed")
    dc = x.shape[-1]
    x = torch.cat([x, sd["mask_token"].repeat(n, length - x.shape[1], 1)], 1)
    x = torch.gather(x, 1, ids_restore.unsqueeze(-1).repeat(1, 1, dc))
    if cls_embed:
        x = torch.cat([sd["decoder_cls_token"].expand(n, -1, -1), x], 1)
    x = x + _full_pos(sd, "decoder_pos_embed", grid, cls_embed, sep)
    for i in range(cfg["decoder_depth"]):
        x = _block(x, sd, f"decoder_blocks.{i}", cfg["decoder_num_heads"])
    pred = _linear(_layer_norm(x, sd, "decoder_norm"), sd, "decoder_pred")[:, int(cls_embed) :]

    frames = imgs.shape[2]
    u = cfg["t_patch_size"] * cfg["pred_t_dim"] // cfg["num_frames"]
    p = cfg["patch_size"]
    target_imgs = torch.index_select(imgs, 2, torch.linspace(0, frames - 1, cfg["pred_t_dim"]).long())
    N, C, T, H, W = target_imgs.shape
    target = target_imgs.reshape(N, C, T // u, u, H // p, p, W // p, p)
    target = torch.einsum("nctuhpwq->nthwupqc", target).reshape(N, -1, u * p * p * C)
    if cfg.get("norm_pix_loss", False):
        target = (target - target.mean(-1, keepdim=True)) / (target.var(-1, keepdim=True) + 1.0e-6) ** 0.5
    loss = ((pred - target) ** 2).mean(-1)
    loss = (loss * mask).sum() / mask.sum()
    return loss, pred, mask


def classification_forward(sd, cfg, imgs, drop_first_patch_without_cls=True):
    """
    Official `VisionTransformer.forward`. The official pooling is `x[:, 1:].mean(1)` whether or not there is a cls
    token; `drop_first_patch_without_cls=False` averages every patch instead, as this package does.
    """
    cls_embed, sep = cfg.get("cls_embed", False), cfg.get("sep_pos_embed", False)
    x, grid = _patch_embed(imgs, sd, cfg)
    n = x.shape[0]
    if cls_embed:
        x = torch.cat([sd["cls_token"].expand(n, -1, -1), x], 1)
    x = x + _full_pos(sd, "pos_embed", grid, cls_embed, sep)
    for i in range(cfg["depth"]):
        x = _block(x, sd, f"blocks.{i}", cfg["num_heads"])
    start = 1 if cls_embed or drop_first_patch_without_cls else 0
    x = _layer_norm(x[:, start:].mean(1), sd, "norm")
    return _linear(x, sd, "head")


def random_official_state_dict(cfg, task, generator):
    """Random official-format weights (every value drawn, none at its initial value) for `cfg`."""
    width, dw = cfg["embed_dim"], cfg.get("decoder_embed_dim", 0)
    p, tp, chans = cfg["patch_size"], cfg["t_patch_size"], 3
    t, s = cfg["num_frames"] // tp, (cfg["img_size"] // p) ** 2
    bias = not cfg.get("no_qkv_bias", False)
    cls_embed, sep = cfg.get("cls_embed", False), cfg.get("sep_pos_embed", False)
    shapes = {"patch_embed.proj.weight": (width, chans, tp, p, p), "patch_embed.proj.bias": (width,)}

    def block(prefix, w):
        for name in ("q", "k", "v"):
            shapes[f"{prefix}.attn.{name}.weight"] = (w, w)
            if bias:
                shapes[f"{prefix}.attn.{name}.bias"] = (w,)
        shapes.update({
            f"{prefix}.attn.proj.weight": (w, w), f"{prefix}.attn.proj.bias": (w,),
            f"{prefix}.norm1.weight": (w,), f"{prefix}.norm1.bias": (w,),
            f"{prefix}.norm2.weight": (w,), f"{prefix}.norm2.bias": (w,),
            f"{prefix}.mlp.fc1.weight": (4 * w, w), f"{prefix}.mlp.fc1.bias": (4 * w,),
            f"{prefix}.mlp.fc2.weight": (w, 4 * w), f"{prefix}.mlp.fc2.bias": (w,),
        })

    def pos(prefix, w):
        if sep:
            shapes.update({prefix + "_spatial": (1, s, w), prefix + "_temporal": (1, t, w)})
            if cls_embed:
                shapes[prefix + "_class"] = (1, 1, w)
        else:
            shapes[prefix] = (1, int(cls_embed) + t * s, w)

    if cls_embed:
        shapes["cls_token"] = (1, 1, width)
    pos("pos_embed", width)
    for i in range(cfg["depth"]):
        block(f"blocks.{i}", width)
    shapes.update({"norm.weight": (width,), "norm.bias": (width,)})
    if task == "pretraining":
        u = tp * cfg["pred_t_dim"] // cfg["num_frames"]
        shapes.update({"decoder_embed.weight": (dw, width), "decoder_embed.bias": (dw,), "mask_token": (1, 1, dw)})
        if cls_embed:
            shapes["decoder_cls_token"] = (1, 1, dw)
        pos("decoder_pos_embed", dw)
        for i in range(cfg["decoder_depth"]):
            block(f"decoder_blocks.{i}", dw)
        shapes.update({
            "decoder_norm.weight": (dw,), "decoder_norm.bias": (dw,),
            "decoder_pred.weight": (u * p * p * chans, dw), "decoder_pred.bias": (u * p * p * chans,),
        })
    else:
        shapes.update({"head.weight": (cfg["num_classes"], width), "head.bias": (cfg["num_classes"],)})
    state = {}
    for key, shape in shapes.items():
        scale = 0.02 if len(shape) > 1 or key.endswith("bias") else 1.0
        base = 1.0 if key.endswith("norm1.weight") or key.endswith("norm2.weight") or key.endswith("norm.weight") else 0.0
        state[key] = base + scale * torch.randn(shape, generator=generator) * (5.0 if len(shape) == 2 else 1.0)
    return state
