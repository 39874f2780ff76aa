"""
Evaluation of a video classifier: top-1 / top-5 accuracy through the `evaluate` modules shipped in this package,
the multi-view protocol of the official test (softmax averaged over temporal clips x spatial crops per video), a
confusion-matrix picture and a per-class accuracy table.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path

import evaluate
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


METRICS_DIR = Path(__file__).parent / "metrics"


@functools.cache
def load_metric(name: str) -> evaluate.EvaluationModule:
    """
    Load one of the `evaluate` modules shipped in `modeling_mae_st/metrics/` (`"accuracy"`, `"top_k_accuracy"`) by
    path, so that nothing is downloaded.

    Raises:
        FileNotFoundError: for a name with no module in the package.
    """
    path = METRICS_DIR / name / f"{name}.py"
    if not path.is_file():
        available = sorted(p.name for p in METRICS_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))
        raise FileNotFoundError(f"No metric {name!r} in {METRICS_DIR}; available: {available}.")
    return evaluate.load(str(path.parent))


def classification_metrics(
    scores: np.ndarray | torch.Tensor, labels: Iterable[int], top_k: int = 5
) -> dict[str, float]:
    """
    Top-1 and top-k accuracy in percent.

    Args:
        scores: `(num_videos, num_labels)` logits or probabilities.
        labels: `(num_videos,)` class indices.
        top_k: the k of the second number (5, as in the paper); capped at the number of classes.

    Returns:
        `{"top1": ..., "top5": ...}` (the key follows `top_k`).
    """
    scores = np.asarray(scores.float().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float32)
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else list(labels), dtype=np.int64)
    top1 = load_metric("accuracy").compute(predictions=scores.argmax(axis=1), references=labels)["accuracy"]
    top_k_result = load_metric("top_k_accuracy").compute(predictions=scores, references=labels, k=top_k)
    return {"top1": 100.0 * top1, f"top{top_k}": 100.0 * next(iter(top_k_result.values()))}


def split_views(pixel_values: torch.Tensor) -> tuple[torch.Tensor, int]:
    """
    Flatten the views of a multi-view batch for the model.

    Args:
        pixel_values: `(batch, views, frames, channels, height, width)`, or `(batch, frames, channels, height,
            width)` for one view.

    Returns:
        `(clips of shape (batch * views, frames, channels, height, width), views)`.
    """
    if pixel_values.ndim == 5:
        return pixel_values, 1
    if pixel_values.ndim != 6:
        raise ValueError(
            "Expected pixel_values of shape (batch, [views,] frames, channels, height, width), got "
            f"{tuple(pixel_values.shape)}."
        )
    batch, views = pixel_values.shape[:2]
    return pixel_values.flatten(0, 1), views


@torch.no_grad()
def predict_views(model: torch.nn.Module, pixel_values: torch.Tensor, max_clips_per_forward: int | None = None):
    """
    Class probabilities of each video, the softmax averaged over its views (the official `engine_test.py`).

    Args:
        model: a video classifier returning `.logits` of shape `(clips, num_labels)`.
        pixel_values: `(batch, views, frames, channels, height, width)` or one view `(batch, frames, ...)`.
        max_clips_per_forward: run the flattened clips in chunks of at most this many (memory), all at once if None.

    Returns:
        `(batch, num_labels)` float32 probabilities.
    """
    clips, views = split_views(pixel_values)
    chunk = max_clips_per_forward or clips.shape[0]
    probs = torch.cat([model(pixel_values=part).logits.float().softmax(-1) for part in clips.split(chunk)])
    return probs.view(-1, views, probs.shape[-1]).mean(dim=1)  # (batch, num_labels)


NOT_DECODED = -2  # the label of a video's row when the video could not be decoded


@torch.no_grad()
def evaluate_classifier(
    model: torch.nn.Module,
    dataloader: Iterable[Mapping],
    accelerator=None,
    top_k: int = 5,
    even_batches: bool = True,
):
    """
    Run a classifier over a loader of [`collate_video_clips`] batches (one or several views per video).

    A video that failed to decode is left out of the metrics. With an `accelerate.Accelerator`, every process takes
    part in every gather, whatever it could decode: each batch is gathered as one row per video asked for (a skipped
    video's row marked, then dropped), so `gather_for_metrics` can drop the samples duplicated to even out the last
    batch by their position.

    Args:
        even_batches: `True` for a loader prepared by Accelerate (every process gets as many batches). `False` for a
            loader of this process's own part of a stream (`datasets.distributed.split_dataset_by_node`), whose
            processes may read different numbers of batches: they go on together until the last one has read its
            last batch (a process that is done adds no row), and the batches are padded to gather.

    Returns:
        `(metrics, probabilities (num_videos, num_labels), labels (num_videos,))` over the decoded videos, with
        `metrics` from [`classification_metrics`] plus `num_videos` (the decoded videos they count) and
        `skipped_videos` (the videos that could not be decoded), as the Trainer script's evaluation reports them.

    Raises:
        ValueError: when no video of the loader could be decoded.
    """
    was_training = model.training
    model.eval()
    config = (accelerator.unwrap_model(model) if accelerator is not None else model).config
    model_device = next(model.parameters()).device
    uneven = accelerator is not None and not even_batches
    all_probs, all_labels = [], []
    num_skipped = 0
    batches = iter(dataloader)
    while True:
        batch = next(batches, None)
        if uneven:  # a collective: stop once no process has a batch left
            if not accelerator.gather(torch.tensor([batch is not None], device=accelerator.device)).any():
                break
        elif batch is None:
            break
        # (decoded videos, [views,] frames, channels, height, width), or None; a loader Accelerate did not prepare
        # leaves it on the host
        pixel_values = batch["pixel_values"] if batch is not None else None
        decoded = [] if batch is None else batch.get("decoded") or [True] * len(batch["labels"])  # videos asked for
        probs = torch.zeros(len(decoded), config.num_labels, device=model_device)
        labels = torch.full((len(decoded),), NOT_DECODED, dtype=torch.long, device=model_device)
        if pixel_values is not None:
            kept = torch.tensor(decoded, device=model_device)
            probs[kept] = predict_views(model, pixel_values.to(model_device))
            labels[kept] = batch["labels"].to(model_device)
        if uneven:
            probs = accelerator.pad_across_processes(probs, dim=0)
            labels = accelerator.pad_across_processes(labels, dim=0, pad_index=-1)
            probs, labels = accelerator.gather((probs, labels))
        elif accelerator is not None:
            probs, labels = accelerator.gather_for_metrics((probs, labels))
        kept = labels >= 0  # (-1: padding of an uneven last batch)
        num_skipped += int((labels == NOT_DECODED).sum())
        all_probs.append(probs[kept].cpu())
        all_labels.append(labels[kept].cpu())
    model.train(was_training)
    if sum(len(labels) for labels in all_labels) == 0:
        raise ValueError("No video of the evaluation loader could be decoded; check the evaluation split.")
    probs, labels = torch.cat(all_probs), torch.cat(all_labels)
    metrics = {**classification_metrics(probs, labels, top_k=top_k), "num_videos": len(labels),
               "skipped_videos": num_skipped}  # fmt: skip
    return metrics, probs, labels


def confusion_matrix(predictions: Iterable[int], labels: Iterable[int], num_labels: int) -> np.ndarray:
    """`(num_labels, num_labels)` counts; row = true class, column = predicted class."""
    matrix = np.zeros((num_labels, num_labels), dtype=np.int64)
    np.add.at(matrix, (np.asarray(list(labels)), np.asarray(list(predictions))), 1)
    return matrix


def per_class_accuracy(matrix: np.ndarray, id2label: Mapping[int, str]) -> list[dict]:
    """One row per class: `label`, `videos`, `correct`, `accuracy` (percent, NaN with no video)."""
    rows = []
    for index in range(matrix.shape[0]):
        videos, correct = int(matrix[index].sum()), int(matrix[index, index])
        rows.append(
            {
                "label": id2label.get(index, str(index)),
                "videos": videos,
                "correct": correct,
                "accuracy": 100.0 * correct / videos if videos else float("nan"),
            }
        )
    return rows


def write_per_class_table(rows: list[dict], path: str | Path) -> Path:
    """Write [`per_class_accuracy`] rows as CSV (`.csv`) or a Markdown table (any other suffix)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["label", "videos", "correct", "accuracy"])
            writer.writeheader()
            writer.writerows({**row, "accuracy": f"{row['accuracy']:.2f}"} for row in rows)
    else:
        lines = ["| label | videos | correct | accuracy (%) |", "|---|---:|---:|---:|"]
        lines += [f"| {r['label']} | {r['videos']} | {r['correct']} | {r['accuracy']:.2f} |" for r in rows]
        path.write_text("\n".join(lines) + "\n")
    return path


def save_confusion_matrix(
    matrix: np.ndarray, id2label: Mapping[int, str], path: str | Path, cell_size: int = 40, max_label_chars: int = 16
) -> Path:
    """
    Draw the row-normalized confusion matrix as a PNG heat map (white = 0, dark blue = all of the row), with the
    counts in the cells when there is room and the class names on both axes. Drawn with Pillow, so no plotting
    library is needed.
    """
    num_labels = matrix.shape[0]
    names = [id2label.get(i, str(i))[:max_label_chars] for i in range(num_labels)]
    font = ImageFont.load_default()
    margin = 8 * max(len(n) for n in names) + 24
    side = cell_size * num_labels
    footer = "rows: true class, columns: predicted class"
    image = Image.new("RGB", (margin + max(side, 7 * len(footer)) + 8, margin + side + 24), "white")
    draw = ImageDraw.Draw(image)
    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for row in range(num_labels):
        for col in range(num_labels):
            shade = rates[row, col]
            color = tuple(int(255 - shade * (255 - c)) for c in (8, 48, 107))
            x0, y0 = margin + col * cell_size, margin + row * cell_size
            draw.rectangle([x0, y0, x0 + cell_size - 1, y0 + cell_size - 1], fill=color, outline=(200, 200, 200))
            if cell_size >= 24:
                ink = "white" if shade > 0.5 else "black"
                draw.text((x0 + 4, y0 + cell_size // 3), str(matrix[row, col]), fill=ink, font=font)
    for index, name in enumerate(names):
        draw.text((4, margin + index * cell_size + cell_size // 3), name, fill="black", font=font)
        label = Image.new("RGB", (margin - 8, 12), "white")
        ImageDraw.Draw(label).text((0, 0), name, fill="black", font=font)
        image.paste(label.rotate(90, expand=True), (margin + index * cell_size + cell_size // 3, 4))
    draw.text((margin, margin + side + 6), footer, fill="black", font=font)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def save_evaluation_report(
    probabilities: torch.Tensor, labels: torch.Tensor, id2label: Mapping[int, str], output_dir: str | Path, prefix: str
) -> dict[str, Path]:
    """
    Save `{prefix}_confusion_matrix.png`, `{prefix}_per_class_accuracy.csv` and `.md` in `output_dir`.

    Returns:
        the paths written, by kind.
    """
    output_dir = Path(output_dir)
    matrix = confusion_matrix(probabilities.argmax(-1).tolist(), labels.tolist(), probabilities.shape[-1])
    rows = per_class_accuracy(matrix, id2label)
    return {
        "confusion_matrix": save_confusion_matrix(matrix, id2label, output_dir / f"{prefix}_confusion_matrix.png"),
        "per_class_csv": write_per_class_table(rows, output_dir / f"{prefix}_per_class_accuracy.csv"),
        "per_class_md": write_per_class_table(rows, output_dir / f"{prefix}_per_class_accuracy.md"),
    }


__all__ = [
    "classification_metrics",
    "confusion_matrix",
    "evaluate_classifier",
    "load_metric",
    "per_class_accuracy",
    "predict_views",
    "save_confusion_matrix",
    "save_evaluation_report",
    "split_views",
    "write_per_class_table",
]
