"""
Does MAE-ST pretraining help? A CPU-sized check on videos whose classes differ only in motion.

1. Render clips with the package's generator (`modeling_mae_st.synthetic.render_motion_video`): a textured shape
   over a textured background, moving left, right, up or down. No single frame tells the class.
2. Pretrain a tiny MAE-ST on unlabeled clips of the same generator (random motions of all kinds, no labels).
3. Fine-tune a classifier on a small labeled set with the same budget (steps, batch, lr, recipe) from that
   checkpoint and from random initialization, for several seeds; report top-1 on held-out clips.

Clips are rendered in memory (no encoding and decoding) so that the CPU time goes to the models. Both fine-tunings
use the fine-tuning recipe (AdamW, warmup + cosine, mixup 0.8 / cutmix 1.0 with label smoothing 0.1, drop path,
dropout before the head, head init std 2e-5, gradient clipping 5); the pretrained encoder is fine-tuned with each
`--layer_decay` (default: the recipe's 0.75, and 1.0), the random one with 1.0 only, as it has nothing in its lower
layers to preserve. Horizontal flips are not used: they would swap "left" and "right".

Defaults are the second attempt's configuration (benchmarks/README.md, "Pretraining helps"): clean clips
(`--noise_amplitude 0`, `--texture_scale 4`: smooth colour fields, no per-pixel noise that nothing could predict),
normalized-pixel targets and mask ratio 0.9 as in the paper (on clean clips both learn; norm-pix left the
predict-the-mean plateau first), 6,000 pretraining steps of 32 clips (lr 3e-3, gradient clipping 1.0), 800
fine-tuning steps, layer decay 0.75 (the recipe) and 1.0 for the pretrained encoder, 1 torch thread. The first
attempt's settings were `--noise_amplitude 24 --texture_scale 1 --norm_pix_loss 0 --mask_ratio 0.75
--num_unlabeled 1024 --pretrain_steps 0 --pretrain_epochs 60 --pretrain_batch_size 64 --pretrain_lr 1.5e-3
--pretrain_clip_grad 0 --finetune_epochs 60 --threads 2`.

    python benchmarks/pretraining_helps.py                     # pretrain, then 3 seeds x (2 layer decays + scratch)
    python benchmarks/pretraining_helps.py --inits scratch --output benchmarks/results/pretraining_helps_v2_scratch.json
    python benchmarks/pretraining_helps.py --inits pretrained --reuse_pretrained --layer_decay 1.0 \
        --output benchmarks/results/pretraining_helps_v2_layer_decay_1.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTForVideoClassification
from modeling_mae_st.evaluation import classification_metrics
from modeling_mae_st.mixup import VideoMixup
from modeling_mae_st.optimization import (
    build_adamw,
    get_warmup_cosine_schedule,
    param_groups_layer_decay,
    param_groups_weight_decay,
)
from modeling_mae_st.synthetic import DEFAULT_CLASSES, MOTIONS, render_motion_video


MEAN, STD = 0.45, 0.225  # the video processor's normalization


def render_clips(
    motions: list[str],
    size: int,
    num_frames: int,
    stride: int,
    seed: int,
    render_size: int | None = None,
    texture_scale: float = 1.0,
    noise_amplitude: int = 24,
) -> torch.Tensor:
    """
    `(len(motions), num_frames, 3, size, size)` normalized clips; every `stride`-th rendered frame is kept. With
    `render_size`, frames are rendered at that size and area-downsampled to `size` (smoother textures).
    """
    rng = np.random.default_rng(seed)
    render_size = render_size or size
    clips = np.stack(
        [
            render_motion_video(
                m, num_frames * stride, (render_size, render_size), rng, texture_scale, noise_amplitude
            )[::stride]
            for m in motions
        ]
    )
    clips = torch.from_numpy(clips).permute(0, 1, 4, 2, 3).float() / 255.0  # (clips, frames, 3, height, width)
    if render_size != size:
        clips = F.interpolate(clips.flatten(0, 1), size=(size, size), mode="area").unflatten(0, clips.shape[:2])
    return (clips - MEAN) / STD


def tiny_config(args, **overrides) -> MAESTConfig:
    return MAESTConfig(
        image_size=args.image_size,
        patch_size=args.patch_size,
        num_frames=args.num_frames,
        tubelet_size=2,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_layers,
        num_attention_heads=args.hidden_size // 32,
        intermediate_size=4 * args.hidden_size,
        decoder_hidden_size=args.hidden_size // 2,
        decoder_num_hidden_layers=2,
        decoder_num_attention_heads=max(args.hidden_size // 64, 1),
        decoder_intermediate_size=2 * args.hidden_size,
        pred_t_dim=args.num_frames,
        mask_ratio=args.mask_ratio,
        norm_pix_loss=args.norm_pix_loss,
        **overrides,
    )


def pretrain(args, clips: torch.Tensor, output_dir: Path) -> dict:
    torch.manual_seed(args.pretrain_seed)
    model = MAESTForPreTraining(tiny_config(args)).to(args.device)
    clips = clips.to(args.device)
    steps_per_epoch = len(clips) // args.pretrain_batch_size
    total = args.pretrain_steps or args.pretrain_epochs * steps_per_epoch
    optimizer = build_adamw(param_groups_weight_decay(model, 0.05), args.pretrain_lr, betas=(0.9, 0.95))
    scheduler = get_warmup_cosine_schedule(optimizer, total // 10, total)
    losses, window, start = [], [], time.time()
    for step in range(total):
        if step % steps_per_epoch == 0:
            order = torch.randperm(len(clips))
        index = order[(step % steps_per_epoch) * args.pretrain_batch_size :][: args.pretrain_batch_size]
        loss = model(pixel_values=clips[index]).loss
        loss.backward()
        if args.pretrain_clip_grad > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.pretrain_clip_grad)
        optimizer.step()
        optimizer.zero_grad()
        scheduler.step()
        window.append(loss.item())
        if (step + 1) % args.log_every == 0 or step + 1 == total:
            losses.append({"step": step + 1, "loss": float(np.mean(window)), "seconds": time.time() - start})
            window = []
            print(f"pretrain step {step + 1}: loss {losses[-1]['loss']:.4f} ({time.time() - start:.0f} s)", flush=True)
    model.save_pretrained(output_dir)
    summary = {"seconds": time.time() - start, "steps": total, "losses": losses}
    (output_dir / "pretraining.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def finetune(args, init: str, seed: int, train, test, pretrained_dir: Path, layer_decay: float = 1.0) -> dict:
    (train_x, train_y), (test_x, test_y) = train, test
    overrides = {"num_labels": len(args.classes), "drop_path_rate": 0.1, "classifier_dropout": 0.3}
    torch.manual_seed(seed)
    if init == "pretrained":
        model = MAESTForVideoClassification.from_pretrained(pretrained_dir, **overrides)
    else:
        model = MAESTForVideoClassification(tiny_config(args, **overrides))
    model = model.to(args.device)
    train_x, train_y, test_x, test_y = (tensor.to(args.device) for tensor in (train_x, train_y, test_x, test_y))
    torch.nn.init.trunc_normal_(model.classifier.weight, std=2e-5)
    torch.nn.init.zeros_(model.classifier.bias)
    steps_per_epoch = len(train_x) // args.finetune_batch_size
    total = args.finetune_epochs * steps_per_epoch
    layer_decay = layer_decay if init == "pretrained" else 1.0
    optimizer = build_adamw(param_groups_layer_decay(model, 0.05, layer_decay), args.finetune_lr, betas=(0.9, 0.999))
    scheduler = get_warmup_cosine_schedule(optimizer, total // 10, total, min_lr=1e-6)
    mixup = VideoMixup(num_labels=len(args.classes), mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
    start = time.time()
    model.train()
    for _ in range(args.finetune_epochs):
        order = torch.randperm(len(train_x))
        for step in range(steps_per_epoch):
            index = order[step * args.finetune_batch_size : (step + 1) * args.finetune_batch_size]
            pixel_values, targets = mixup(train_x[index], train_y[index])
            loss = model(pixel_values=pixel_values, labels=targets).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()
            optimizer.zero_grad()
            scheduler.step()
    seconds = time.time() - start
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(pixel_values=part).logits for part in test_x.split(128)])
    metrics = classification_metrics(logits.cpu(), test_y.cpu(), top_k=2)
    return {
        "init": init,
        "layer_decay": layer_decay,
        "seed": seed,
        "top1": metrics["top1"],
        "seconds": seconds,
        "steps": total,
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inits", nargs="+", default=["pretrained", "scratch"], choices=["pretrained", "scratch"])
    parser.add_argument("--classes", nargs="+", default=list(DEFAULT_CLASSES), choices=MOTIONS)
    parser.add_argument("--image_size", type=int, default=32)
    parser.add_argument("--patch_size", type=int, default=8)
    parser.add_argument("--num_frames", type=int, default=8)
    parser.add_argument("--frame_stride", type=int, default=2, help="Rendered frames per clip frame.")
    parser.add_argument("--hidden_size", type=int, default=96)
    parser.add_argument("--num_layers", type=int, default=4)
    parser.add_argument("--mask_ratio", type=float, default=0.9)
    parser.add_argument(
        "--norm_pix_loss",
        type=int,
        default=1,
        help="Per-patch normalized targets (1, the paper's default) or raw pixels (0). With the generator's texture "
        "noise (--noise_amplitude 24) the normalized target of a patch is mostly that noise and the loss never leaves "
        "the predict-the-mean plateau; on clean clips it learns, and left the plateau before raw pixels did.",
    )
    parser.add_argument("--render_size", type=int, default=64, help="Render at this size, then downsample.")
    parser.add_argument(
        "--texture_scale",
        type=float,
        default=4.0,
        help="Colour-cell size of the generator's textures (1.0: the generator's default; 4.0: smooth colour fields, "
        "so that the moving shape rather than background texture carries the signal).",
    )
    parser.add_argument(
        "--noise_amplitude",
        type=int,
        default=0,
        help="Per-pixel texture noise of the generator (24: its default; 0: none). Nothing can predict that noise.",
    )
    parser.add_argument("--num_unlabeled", type=int, default=4096)
    parser.add_argument("--num_train_per_class", type=int, default=64)
    parser.add_argument("--num_test_per_class", type=int, default=100)
    parser.add_argument("--pretrain_epochs", type=int, default=60)
    parser.add_argument("--pretrain_batch_size", type=int, default=32)
    parser.add_argument(
        "--pretrain_steps", type=int, default=6000, help="Pretraining steps (0: --pretrain_epochs over the clips)."
    )
    parser.add_argument("--pretrain_lr", type=float, default=3e-3)
    parser.add_argument("--pretrain_clip_grad", type=float, default=1.0, help="Gradient-norm clipping (0: none).")
    parser.add_argument("--log_every", type=int, default=100, help="Pretraining steps per logged mean loss.")
    parser.add_argument("--pretrain_seed", type=int, default=0)
    parser.add_argument("--finetune_epochs", type=int, default=100)
    parser.add_argument("--finetune_batch_size", type=int, default=32)
    parser.add_argument("--finetune_lr", type=float, default=1e-3)
    parser.add_argument(
        "--layer_decay",
        type=float,
        nargs="+",
        default=[0.75, 1.0],
        help="Layer-wise lr decay(s) for the pretrained encoder, one fine-tuning per value and seed (scratch: 1.0).",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="Torch threads; on a shared 2-core machine 2 threads ran 30-100x slower."
    )
    parser.add_argument(
        "--reuse_pretrained", action="store_true", help="Fine-tune from the model a previous run saved in --work_dir."
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where pretraining and fine-tuning run.")
    parser.add_argument("--work_dir", default="/tmp/mae_st_pretraining_helps")
    parser.add_argument("--output", default="benchmarks/results/pretraining_helps_v2.json")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    work_dir = Path(args.work_dir)
    start = time.time()
    rng = np.random.default_rng(1234)
    unlabeled = render_clips(
        [MOTIONS[i] for i in rng.integers(len(MOTIONS), size=args.num_unlabeled)],
        args.image_size,
        args.num_frames,
        args.frame_stride,
        seed=1,
        render_size=args.render_size,
        texture_scale=args.texture_scale,
        noise_amplitude=args.noise_amplitude,
    )
    classes = sorted(args.classes)

    def labeled(per_class: int, seed: int):
        labels = torch.arange(len(classes)).repeat(per_class)
        motions = [classes[i] for i in labels]
        clips = render_clips(
            motions,
            args.image_size,
            args.num_frames,
            args.frame_stride,
            seed,
            args.render_size,
            args.texture_scale,
            args.noise_amplitude,
        )
        return clips, labels

    train, test = labeled(args.num_train_per_class, seed=2), labeled(args.num_test_per_class, seed=3)
    render_seconds = time.time() - start
    print(
        f"rendered {len(unlabeled)} unlabeled, {len(train[0])} train, {len(test[0])} test clips "
        f"in {render_seconds:.0f} s"
    )

    pretrained_dir = work_dir / "pretrained"
    if "pretrained" not in args.inits:
        pretraining = None
    elif args.reuse_pretrained and (pretrained_dir / "pretraining.json").is_file():
        pretraining = json.loads((pretrained_dir / "pretraining.json").read_text())
        print(f"reusing the pretrained model in {pretrained_dir}")
    else:
        pretraining = pretrain(args, unlabeled, pretrained_dir)
    variants = [("pretrained", d) for d in args.layer_decay if "pretrained" in args.inits]
    variants += [("scratch", 1.0)] if "scratch" in args.inits else []
    runs = []
    for seed in args.seeds:
        for init, layer_decay in variants:
            runs.append(finetune(args, init, seed, train, test, pretrained_dir, layer_decay))
            print(json.dumps(runs[-1]), flush=True)
            result = write_result(args, pretraining, runs, variants, start)  # after every run: partial results survive
    print(json.dumps(result["summary"], indent=2))
    return result


def write_result(args, pretraining, runs, variants, start) -> dict:
    summary = {}
    for init, layer_decay in variants:
        name = f"{init}_layer_decay_{layer_decay}"
        top1 = [r["top1"] for r in runs if r["init"] == init and r["layer_decay"] == layer_decay]
        if top1:
            summary[name] = {"mean_top1": float(np.mean(top1)), "std_top1": float(np.std(top1)), "top1": top1}
    result = {
        "config": vars(args),
        "pretraining": pretraining,
        "runs": runs,
        "summary": summary,
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
            "python": platform.python_version(),
        },
        "total_seconds": time.time() - start,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
