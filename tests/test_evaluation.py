"""Evaluation of a video classifier (`modeling_mae_st/evaluation.py`): shipped metrics, multi-view prediction,
videos that fail to decode, the confusion matrix and per-class table."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from modeling_mae_st import MAESTConfig, MAESTForVideoClassification
from modeling_mae_st.data import collate_video_clips
from modeling_mae_st.evaluation import (
    classification_metrics,
    confusion_matrix,
    evaluate_classifier,
    load_metric,
    per_class_accuracy,
    predict_views,
    save_evaluation_report,
)


def test_shipped_metrics_load_by_path_without_the_network(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    accuracy = load_metric("accuracy").compute(predictions=[0, 1, 1], references=[0, 1, 0])["accuracy"]
    top2 = load_metric("top_k_accuracy").compute(
        predictions=[[0.1, 0.7, 0.2], [0.5, 0.1, 0.4]], references=[2, 2], k=2
    )
    assert accuracy == pytest.approx(2 / 3) and top2 == {"top_2_accuracy": 1.0}
    with pytest.raises(FileNotFoundError, match="available"):
        load_metric("bleu")


def test_top1_and_top5_in_percent():
    scores = np.eye(6)[[0, 1, 2, 3, 4, 5]] + np.linspace(0, 0.5, 6)  # argmax = class, ranks by the ramp next
    metrics = classification_metrics(scores, [0, 1, 2, 3, 4, 1])  # the last is 2nd from the bottom: in the top 5
    assert metrics == {"top1": pytest.approx(500 / 6), "top5": pytest.approx(100.0)}


def test_multi_view_prediction_averages_softmax_over_each_videos_views():
    class Echo(torch.nn.Module):  # logits = the clip's first three values
        def forward(self, pixel_values):
            return type("Out", (), {"logits": pixel_values.flatten(1)[:, :3]})()

    views = torch.randn(2, 5, 1, 3, 1, 1)  # (batch, views, frames, channels, height, width)
    probs = predict_views(Echo(), views, max_clips_per_forward=3)
    expected = views.flatten(2).softmax(-1).mean(1)
    assert torch.allclose(probs, expected, atol=1e-6)


def test_confusion_matrix_picture_and_per_class_table(tmp_path):
    matrix = confusion_matrix([0, 1, 1, 2], [0, 1, 2, 2], num_labels=3)
    assert matrix.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    rows = per_class_accuracy(matrix, {0: "left", 1: "right", 2: "up"})
    assert [row["accuracy"] for row in rows] == [100.0, 100.0, 50.0]
    paths = save_evaluation_report(
        torch.eye(3)[[0, 1, 1, 2]], torch.tensor([0, 1, 2, 2]), {0: "a", 1: "b", 2: "c"}, tmp_path, "val"
    )
    assert paths["confusion_matrix"].read_bytes()[:4] == b"\x89PNG"
    assert "| c | 2 | 1 | 50.00 |" in paths["per_class_md"].read_text()


def test_videos_that_failed_to_decode_are_left_out_and_the_others_keep_their_predictions():
    # A batch with its middle video broken, then a batch with no decodable video: the result holds the three decoded
    # videos, each with its own prediction and label (one row per video asked for, the broken ones dropped).
    torch.manual_seed(0)
    model = MAESTForVideoClassification(MAESTConfig(
        image_size=16, patch_size=8, num_frames=2, tubelet_size=2, pred_t_dim=2, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, num_labels=3,
    )).eval()  # fmt: skip
    clips = torch.randn(3, 2, 2, 3, 16, 16)  # (videos, views, frames, channels, height, width)

    def example(index, clip):
        return {"pixel_values": clip, "labels": index, "video_name": f"v{index}.mp4"}

    batches = [
        collate_video_clips([example(0, clips[0]), example(1, None), example(2, clips[1])], flatten_clips=False),
        collate_video_clips([example(1, None), example(0, None)], flatten_clips=False),
        collate_video_clips([example(1, clips[2])], flatten_clips=False),
    ]
    metrics, probs, labels = evaluate_classifier(model, batches)
    assert labels.tolist() == [0, 2, 1]
    assert torch.allclose(probs, predict_views(model, clips), atol=1e-6)
    # the metrics say over how many videos, and how many could not be decoded (mae-st-finetune's results and card
    # left the 3 skipped ones unsaid: only the log named them)
    assert metrics == {**classification_metrics(probs, labels), "num_videos": 3, "skipped_videos": 3}
    with pytest.raises(ValueError, match="No video"):
        evaluate_classifier(model, batches[1:2])


def evaluate_in_one_of_two_processes(output: str) -> None:
    """Run by each of 2 gloo processes: 5 videos, 1 per process and batch, the second broken (process 1's first batch
    has nothing to predict) and the last batch evened out with a duplicate of the first video."""
    from functools import partial

    from accelerate import Accelerator

    accelerator = Accelerator()
    torch.manual_seed(0)
    model = MAESTForVideoClassification(MAESTConfig(
        image_size=16, patch_size=8, num_frames=2, tubelet_size=2, pred_t_dim=2, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, num_labels=5,
    )).eval()  # fmt: skip
    clips = torch.randn(5, 1, 2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    videos = [
        {"pixel_values": None if index == 1 else clips[index], "labels": index, "video_name": f"v{index}.mp4"}
        for index in range(5)
    ]
    collate = partial(collate_video_clips, flatten_clips=False)
    loader = torch.utils.data.DataLoader(videos, batch_size=1, collate_fn=collate)
    expected = predict_views(model, clips)  # (5, num_labels), one process alone
    model, loader = accelerator.prepare(model, loader)
    metrics, probs, labels = evaluate_classifier(model, loader, accelerator)
    if accelerator.is_main_process:
        torch.save({"probs": probs, "labels": labels, "expected": expected, "metrics": metrics}, output)


def test_two_processes_gather_each_decoded_video_once_when_one_process_has_nothing_to_predict(tmp_path):
    # Accelerate's debug_launcher forks 2 gloo processes: from a fresh interpreter, as forking this one (whose torch
    # thread pools earlier tests started) can deadlock.
    output = tmp_path / "gathered.pt"
    launch = (
        "import sys; sys.path.insert(0, sys.argv[1]); from accelerate import debug_launcher; import test_evaluation; "
        "debug_launcher(test_evaluation.evaluate_in_one_of_two_processes, args=(sys.argv[2],), num_processes=2)"
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", launch, str(Path(__file__).parent), str(output)],
        env=environment, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    result = torch.load(output)
    assert sorted(result["labels"].tolist()) == [0, 2, 3, 4]  # video 1 broken, the evening-out duplicate dropped
    assert torch.allclose(result["probs"], result["expected"][result["labels"]], atol=1e-6)
    assert (result["metrics"]["num_videos"], result["metrics"]["skipped_videos"]) == (4, 1)
