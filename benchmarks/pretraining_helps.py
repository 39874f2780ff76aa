"""
Does MAE-ST pretraining help? A CPU-sized check on videos whose classes differ only in motion.

1. Render clips with the package's generator (`modeling_mae_st.synthetic.render_motion_video`): a shape over a
   background, moving left, right, up or down. No single frame tells the class.
2. Pretrain a tiny MAE-ST on unlabeled clips of the same generator (random motions of all kinds, no labels).
3. Fine-tune a classifier on small labeled sets (16, 32 and 64 clips per class) with the same budget (epochs, batch,
   lr, recipe) from that checkpoint and from random initialization, for several seeds; report top-1 on validation
   clips (the only clips any setting was chosen on) and on held-out test clips.

Clips are rendered in memory (no encoding and decoding) so that the CPU time goes to the models. Both fine-tunings
use the fine-tuning recipe (AdamW, warmup + cosine, mixup 0.8 / cutmix 1.0 with label smoothing 0.1, drop path,
dropout before the head, head init std 2e-5, gradient clipping 5); the pretrained encoder is fine-tuned with each
`--layer_decay`, the random one with 1.0 only, as it has nothing in its lower layers to preserve. Horizontal flips are
not used: they would swap "left" and "right".

Defaults are the third configuration (benchmarks/README.md, "Pretraining helps"): 8 frames of 64x64 with 2x8x8
patches (256 tokens, so 25 visible at mask ratio 0.9), clean clips (`--noise_amplitude 0`, `--texture_scale 4`),
normalized-pixel targets, 6,000 pretraining steps of 32 clips, 100 fine-tuning epochs. The second configuration, at
32x32 (64 tokens, 6 visible), is `--image_size 32 --num_train_per_class 64`; there pretraining hurt. Settings were
compared with `pretraining_helps_sweep.py` on validation clips.

    python benchmarks/pretraining_helps.py                       # pretrain, then 3 seeds x 3 label counts x variants
    # the README's CPU run: two processes side by side, then merged
    python benchmarks/pretraining_helps.py --inits pretrained --layer_decay 1.0 --output pretrained.json
    python benchmarks/pretraining_helps.py --inits scratch --output scratch.json
    python benchmarks/pretraining_helps.py --inits pretrained --layer_decay 0.75 --reuse_pretrained --output ld075.json
    python benchmarks/pretraining_helps.py --merge pretrained.json scratch.json ld075.json --output merged.json
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
        tubelet_size=args.tubelet_size,
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_layers,
        num_attention_heads=args.hidden_size // 32,
        intermediate_size=4 * args.hidden_size,
        decoder_hidden_size=args.hidden_size // 2,
        decoder_num_hidden_layers=args.decoder_layers,
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


def evaluate_top1(model, clips: torch.Tensor, labels: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(pixel_values=part).logits for part in clips.split(128)])
    return classification_metrics(logits.cpu(), labels.cpu(), top_k=2)["top1"]


def finetune(
    args, init: str, seed: int, train, validation, test, pretrained_dir: Path, layer_decay: float = 1.0
) -> dict:
    train_x, train_y = train
    overrides = {"num_labels": len(args.classes), "drop_path_rate": 0.1, "classifier_dropout": 0.3}
    torch.manual_seed(seed)
    if init == "pretrained":
        model = MAESTForVideoClassification.from_pretrained(pretrained_dir, **overrides)
    else:
        model = MAESTForVideoClassification(tiny_config(args, **overrides))
    model = model.to(args.device)
    train_x, train_y = train_x.to(args.device), train_y.to(args.device)
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
    validation_top1 = evaluate_top1(model, *(t.to(args.device) for t in validation)) if validation else None
    return {
        "init": init,
        "layer_decay": layer_decay,
        "num_train_per_class": len(train_x) // len(args.classes),
        "seed": seed,
        "validation_top1": validation_top1,
        "top1": evaluate_top1(model, *(t.to(args.device) for t in test)) if test else None,
        "seconds": seconds,
        "steps": total,
    }


def frozen_features(model: MAESTForVideoClassification, clips: torch.Tensor) -> dict[str, torch.Tensor]:
    """
    Frozen features of the encoder: `pooled` `(clips, hidden)`, the classifier's pooling (mean of the patch tokens,
    then the norm), and `tokens` `(clips, num_tokens * hidden)`, every normed patch token in place (layout kept).
    """
    model.eval()
    pooled, tokens = [], []
    with torch.no_grad():
        for part in clips.split(128):
            outputs = model.mae_st(pixel_values=part)
            pooled.append(outputs.pooler_output)
            hidden = outputs.last_hidden_state[:, 1:] if model.config.use_cls_token else outputs.last_hidden_state
            tokens.append(hidden.flatten(1))
    return {"pooled": torch.cat(pooled), "tokens": torch.cat(tokens)}


def linear_probe(train_features, train_labels, eval_features, eval_labels, weight_decay: float) -> float:
    """Top-1 of an L2-regularized logistic regression (full-batch L-BFGS) on standardized frozen features."""
    mean, std = train_features.mean(0), train_features.std(0) + 1e-6
    train_features, eval_features = (train_features - mean) / std, (eval_features - mean) / std
    linear = torch.nn.Linear(train_features.shape[1], int(train_labels.max()) + 1)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.cross_entropy(linear(train_features), train_labels) + weight_decay * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return float((linear(eval_features).argmax(-1) == eval_labels).float().mean() * 100)


def probe(args, train, validation, test, pretrained_dir: Path) -> dict:
    """
    What the frozen encoders hold before fine-tuning, for the pretrained encoder and a random one (seed 0): mean
    pairwise cosine similarity of the pooled features of the validation clips (near 1: every clip looks alike after
    pooling), and linear-probe top-1 from the largest labeled set, on the pooled features and on all patch tokens in
    place.
    """
    results = {}
    for init in ("pretrained", "random"):
        torch.manual_seed(0)
        if init == "pretrained":
            model = MAESTForVideoClassification.from_pretrained(pretrained_dir, num_labels=len(args.classes))
        else:
            model = MAESTForVideoClassification(tiny_config(args, num_labels=len(args.classes)))
        splits = {"train": train, "validation": validation, "test": test}
        features = {name: frozen_features(model, split[0]) for name, split in splits.items() if split}
        normed = F.normalize(features["validation"]["pooled"], dim=-1)
        similarity = normed @ normed.T
        off_diagonal = similarity[~torch.eye(len(similarity), dtype=torch.bool)]
        results[init] = {"mean_cosine_similarity": float(off_diagonal.mean())}
        for kind in ("pooled", "tokens"):
            results[init][f"linear_probe_{kind}"] = {
                str(weight_decay): {
                    name: linear_probe(features["train"][kind], train[1], features[name][kind], split[1], weight_decay)
                    for name, split in splits.items()
                    if split and name != "train"
                }
                for weight_decay in (1e-3, 1e-2, 1e-1)
            }
        print(init, json.dumps(results[init]), flush=True)
    return results


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--inits", nargs="+", default=["pretrained", "scratch"], choices=["pretrained", "scratch"])
    parser.add_argument("--classes", nargs="+", default=list(DEFAULT_CLASSES), choices=MOTIONS)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument("--patch_size", type=int, default=8)
    parser.add_argument("--num_frames", type=int, default=8)
    parser.add_argument("--tubelet_size", type=int, default=2)
    parser.add_argument("--decoder_layers", type=int, default=2)
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
    parser.add_argument(
        "--render_size", type=int, default=64, help="Render at this size, then area-downsample to --image_size."
    )
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
    parser.add_argument(
        "--num_train_per_class",
        type=int,
        nargs="+",
        default=[16, 32, 64],
        help="Labeled training clips per class; one set of fine-tunings per value (the smaller sets are prefixes of "
        "the larger ones).",
    )
    parser.add_argument(
        "--num_test_per_class",
        type=int,
        default=100,
        help="Held-out test clips per class (render seed 3); 0 skips the test set, as settings are chosen on validation.",
    )
    parser.add_argument(
        "--num_validation_per_class",
        type=int,
        default=50,
        help="Validation clips per class (render seed 4), the only clips any setting was chosen on.",
    )
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
        "--threads",
        type=int,
        default=1,
        help="Torch threads; on a shared 2-core machine 2 threads ran 30-100x slower.",
    )
    parser.add_argument(
        "--reuse_pretrained",
        action="store_true",
        help="Fine-tune from the model a previous run saved in --work_dir (an error if there is none).",
    )
    parser.add_argument(
        "--probe",
        action="store_true",
        help="Instead of fine-tuning: cosine similarity and linear probes of the frozen pooled features of the "
        "pretrained encoder in --work_dir and of a random one.",
    )
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULT",
        help="Merge result files of processes that split one benchmark (same configuration otherwise) into --output.",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where pretraining and fine-tuning run.")
    parser.add_argument("--work_dir", default="/tmp/mae_st_pretraining_helps")
    parser.add_argument("--output", default="benchmarks/results/pretraining_helps_v2.json")
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.merge:
        return merge_results(args, args.merge)
    work_dir = Path(args.work_dir)
    start = time.time()
    pretrained_dir = work_dir / "pretrained"
    reuse = "pretrained" in args.inits and args.reuse_pretrained
    if reuse and not (pretrained_dir / "pretraining.json").is_file():
        raise FileNotFoundError(f"--reuse_pretrained: no finished pretraining in {pretrained_dir}.")
    unlabeled = None
    if "pretrained" in args.inits and not reuse:
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

    train = labeled(max(args.num_train_per_class), seed=2)
    test = labeled(args.num_test_per_class, seed=3) if args.num_test_per_class else None
    validation = labeled(args.num_validation_per_class, seed=4) if args.num_validation_per_class else None
    render_seconds = time.time() - start
    print(
        f"rendered {len(unlabeled) if unlabeled is not None else 0} unlabeled, {len(train[0])} train, "
        f"{len(validation[0]) if validation else 0} "
        f"validation, {len(test[0]) if test else 0} test clips "
        f"in {render_seconds:.0f} s"
    )

    if "pretrained" not in args.inits:
        pretraining = None
    elif reuse:
        pretraining = json.loads((pretrained_dir / "pretraining.json").read_text())
        print(f"reusing the pretrained model in {pretrained_dir}")
    else:
        pretraining = pretrain(args, unlabeled, pretrained_dir)
    if args.probe:
        return write_json(
            args.output,
            {
                "config": vars(args),
                "pretraining": pretraining,
                "probe": probe(args, train, validation, test, pretrained_dir),
                "machine": machine(args),
            },
        )
    variants = [("pretrained", d) for d in args.layer_decay if "pretrained" in args.inits]
    variants += [("scratch", 1.0)] if "scratch" in args.inits else []
    runs = []
    for per_class in args.num_train_per_class:
        # Labels cycle through the classes, so the first `per_class * classes` clips hold `per_class` of each.
        subset = tuple(tensor[: per_class * len(classes)] for tensor in train)
        for seed in args.seeds:
            for init, layer_decay in variants:
                runs.append(finetune(args, init, seed, subset, validation, test, pretrained_dir, layer_decay))
                print(json.dumps(runs[-1]), flush=True)
                result = write_result(args, pretraining, runs, start)  # after every run: partial results survive
    print(json.dumps(result["summary"], indent=2))
    return result


def summarize(runs: list[dict]) -> dict:
    summary = {}
    groups = sorted({(r["num_train_per_class"], r["init"], r["layer_decay"]) for r in runs})
    for per_class, init, layer_decay in groups:
        name = f"{per_class}_per_class/{init}_layer_decay_{layer_decay}"
        chosen = [
            r
            for r in runs
            if (r["num_train_per_class"], r["init"], r["layer_decay"]) == (per_class, init, layer_decay)
        ]
        for key in ("validation_top1", "top1"):
            values = [r[key] for r in chosen if r[key] is not None]
            if values:
                summary.setdefault(name, {}).update(
                    {f"mean_{key}": float(np.mean(values)), f"std_{key}": float(np.std(values)), key: values}
                )
    return summary


def machine(args) -> dict:
    return {
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "python": platform.python_version(),
    }


def write_json(path: str, result: dict) -> dict:
    output = Path(path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    return result


def write_result(args, pretraining, runs, start) -> dict:
    return write_json(
        args.output,
        {
            "config": vars(args),
            "pretraining": pretraining,
            "runs": runs,
            "summary": summarize(runs),
            "machine": machine(args),
            "total_seconds": time.time() - start,
        },
    )


def merge_results(args, paths: list[str]) -> dict:
    """One result from the files of processes that each ran part of the fine-tunings (e.g. scratch in one process
    while the other pretrains); each part keeps its own configuration and wall time."""
    parts = [json.loads(Path(path).read_text()) for path in paths]
    pretraining = [part["pretraining"] for part in parts if part["pretraining"]]
    # Files written before runs recorded their label count hold one count, in their configuration.
    runs = [
        {"num_train_per_class": part["config"]["num_train_per_class"], **run} for part in parts for run in part["runs"]
    ]
    return write_json(
        args.output,
        {
            "parts": [
                {"file": str(path), "config": part["config"], "total_seconds": part["total_seconds"]}
                for path, part in zip(paths, parts, strict=True)
            ],
            "pretraining": pretraining[0] if pretraining else None,
            "runs": runs,
            "summary": summarize(runs),
            "machine": parts[0]["machine"],
        },
    )


if __name__ == "__main__":
    main()
