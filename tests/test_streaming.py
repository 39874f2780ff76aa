"""Tests of `modeling_mae_st/streaming.py` and `mae-st-pretrain --streaming`: real `.tar` shards of the package's
synthetic videos (plus a broken video and a sample without one), streamed through 1 and 2 processes (gloo)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_pretraining import launch_two_processes, log_history, run_in_process, tiny_arguments

from mae_st_training.arguments import parse_pretraining_arguments
from modeling_mae_st.command_line import UsageError
from modeling_mae_st.data import TooManyBadVideosError, load_video_dataset
from modeling_mae_st.shards import write_video_shards
from modeling_mae_st.streaming import StreamedBatchDecoder, StreamedVideo, VideoStream
from modeling_mae_st.synthetic import make_synthetic_pretraining_videos


STREAMING = {"streaming": True, "warmup_steps": 1, "shuffle_buffer_size": 3, "max_bad_video_fraction": 1.0}


@pytest.fixture(scope="module")
def shards_dir(tmp_path_factory) -> Path:
    """Four shards: nine synthetic videos three by three, then a broken video and a sample without a video. Two
    processes get two shards each, 6 and 5 samples: their passes end at different steps."""
    videos = tmp_path_factory.mktemp("stream_videos")
    make_synthetic_pretraining_videos(videos, num_videos=9, num_frames=16, size=(48, 32), seed=0)
    folder = tmp_path_factory.mktemp("shards")
    write_video_shards(videos, folder, max_videos_per_shard=3, shuffle=False)
    with tarfile.open(folder / "train-00003.tar", "w") as archive:
        for name, payload in (("broken.mp4", b"not a video at all"), ("no_video.json", b'{"path": "no_video"}')):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return folder


def stream_names(stream: VideoStream, num_batches: int) -> list[list[str]]:
    batches = iter(stream)
    return [[video.name for video in next(batches)] for _ in range(num_batches)]


def test_each_process_reads_its_own_shards_pass_after_pass_and_a_restored_stream_continues_exactly(shards_dir):
    train = load_video_dataset(shards_dir, label_column=None, streaming=True)["train"]
    parts = [VideoStream(train, 1, seed=0, shuffle_buffer_size=3, process_index=i, num_processes=2) for i in (0, 1)]
    first_passes = [set(sum(stream_names(part, n), [])) for part, n in zip(parts, (6, 5))]
    assert not first_passes[0] & first_passes[1] and len(first_passes[0] | first_passes[1]) == 11
    # the passes of one process differ in order (reseeded buffer) and the stream goes on past the end of the part
    names = sum(stream_names(parts[1], 15), [])
    assert sorted(names[:5]) == sorted(names[5:10]) and names[:5] != names[5:10]
    # a stream restored at (pass 1, 2 videos read) yields what the uninterrupted one yields after 7 videos
    part = VideoStream(train, 1, seed=0, shuffle_buffer_size=3, process_index=1, num_processes=2)
    part.load_state_dict({"positions": [[0, 0], [1, 2]]})
    assert sum(stream_names(part, 8), []) == names[7:15]
    with pytest.raises(UsageError, match="read by 2 processes; this run has 1"):
        VideoStream(train, 1, seed=0).load_state_dict({"positions": [[0, 0], [1, 2]]})


def test_held_out_videos_are_left_out_and_a_part_without_videos_is_an_error(shards_dir):
    train = load_video_dataset(shards_dir, label_column=None, streaming=True)["train"]
    stream = VideoStream(train, 2, seed=0, shuffle_buffer_size=0, exclude=["train-00000.tar/video_0000"])
    names = sum(stream_names(stream, 5), [])
    assert "train-00000.tar/video_0000" not in names and names[0] == "train-00000.tar/video_0001"
    with pytest.raises(ValueError, match="fewer videos \\(or shards\\) than there are processes"):
        next(iter(VideoStream(train.take(1), 1, seed=0, process_index=1, num_processes=2)))


def test_a_broken_video_and_a_sample_without_video_are_skipped_and_named(shards_dir, small_processor):
    train = load_video_dataset(shards_dir / "train-00003.tar", label_column=None, streaming=True)["train"]
    examples = list(train)
    decoder = StreamedBatchDecoder(small_processor.with_settings(mode="train", repeat_aug=2), seed=0)
    batch = decoder[[StreamedVideo(example["video"], f"shard/{example['__key__']}", 0, i + 1)
                     for i, example in enumerate(examples)]]  # fmt: skip
    assert batch["pixel_values"] is None and batch["decoded"] == [False, False]
    assert batch["num_skipped"] == 2 and batch["stream_position"] == (0, 2)
    assert batch["skipped_videos"] == ["broken.mp4", "shard/no_video"]


def test_a_part_where_no_video_decodes_stops_after_one_whole_pass(shards_dir, small_processor):
    # without the check, a run allowed any bad fraction would skip batches for ever
    train = load_video_dataset(shards_dir / "train-00003.tar", label_column=None, streaming=True)["train"]
    stream = VideoStream(train, 1, seed=0)
    decoder = StreamedBatchDecoder(small_processor.with_settings(mode="train"), seed=0)
    batches = iter(stream)
    stream.take(decoder[next(batches)])
    with pytest.raises(TooManyBadVideosError, match="None of the 2 videos of process 0's part"):
        for _ in range(3):
            stream.take(decoder[next(batches)])


def test_the_same_video_gets_the_same_clips_in_any_worker_and_other_clips_in_another_pass(shards_dir, small_processor):
    example = next(iter(load_video_dataset(shards_dir, label_column=None, streaming=True)["train"]))
    decoder = StreamedBatchDecoder(small_processor.with_settings(mode="train", repeat_aug=2), seed=0)
    clips = [decoder[[StreamedVideo(example["video"], "a", video_pass, 1)]]["pixel_values"] for video_pass in (0, 0, 1)]
    assert torch.equal(clips[0], clips[1]) and not torch.equal(clips[0], clips[2])


def test_streaming_without_a_length_asks_for_max_train_steps_and_warmup_steps_in_one_line(shards_dir, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_pretraining_arguments(["--dataset_name", str(shards_dir), "--output_dir", "out", "--streaming"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--streaming needs --max_train_steps and --warmup_steps" in error


def test_streamed_pretraining_resumes_exactly_with_a_worker(tmp_path, shards_dir):
    # 8 good training videos (one held out for the pictures) and 2 bad samples, 2 per step: the checkpoint at step
    # 3 is in the first pass, and the resumed run crosses into the second and third.
    common = {**STREAMING, "dataloader_num_workers": 1, "checkpointing_steps": 3}
    full = run_in_process(tiny_arguments(shards_dir, tmp_path / "full", 8, **common))
    resumed = run_in_process(
        tiny_arguments(shards_dir, tmp_path / "resumed", 8, resume_from_checkpoint=full / "checkpoint-3", **common)
    )
    history = log_history(full)
    assert [entry["step"] for entry in history] == list(range(1, 9))
    assert history[-1]["skipped_videos"] >= 2 and history[-1]["epoch"] > 1  # both bad samples, more than a pass
    assert [entry["loss"] for entry in log_history(resumed)] == [entry["loss"] for entry in history[3:]]
    full_weights, resumed_weights = (load_file(path / "model.safetensors") for path in (full, resumed))
    assert all(torch.equal(full_weights[name], resumed_weights[name]) for name in full_weights)


def test_two_processes_stream_their_own_parts_stay_in_step_count_bad_samples_and_resume_exactly(tmp_path, shards_dir):
    # One video per process and step, 8 steps: the parts hold 6 and 5 samples (one held out, two bad), so the
    # processes start their next passes at different steps; both do every step and neither waits for the other.
    common = {**STREAMING, "per_device_train_batch_size": 1, "dataloader_num_workers": 1, "checkpointing_steps": 4}
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    launch_two_processes(shards_dir, full, 8, **common)
    launch_two_processes(shards_dir, resumed, 8, resume_from_checkpoint=full / "checkpoint-4", **common)
    history = log_history(full)
    assert [entry["step"] for entry in history] == list(range(1, 9))
    records = [json.loads((full / "data_order" / f"process_{i}.json").read_text()) for i in range(2)]
    assert records[0]["weights_sha256"] == records[1]["weights_sha256"]
    read = [{name for batch in record["videos"] for name in batch} for record in records]
    assert not read[0] & read[1] and len(read[0] | read[1]) == 8  # every training video, each by one process
    skipped = [sum(1 for batch in record["videos"] if not batch) for record in records]
    assert history[-1]["skipped_videos_per_process"] == {"0": skipped[0], "1": skipped[1]}
    assert history[-1]["skipped_videos"] == sum(skipped) >= 2
    assert [entry["loss"] for entry in log_history(resumed)] == [entry["loss"] for entry in history[4:]]
    resumed_record = json.loads((resumed / "data_order" / "process_0.json").read_text())
    assert resumed_record["weights_sha256"] == records[0]["weights_sha256"]


def test_the_training_readme_cpu_rehearsal_of_the_kinetics_recipe_runs_as_written(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "training" / "README.md").read_text()
    block = readme.split("<!-- streaming-recipe: run by tests/test_streaming.py -->\n```bash\n", 1)[1].split("```", 1)[0]
    environment = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                   "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}  # fmt: skip
    result = subprocess.run(["bash", "-e", "-c", block], cwd=tmp_path, env=environment, capture_output=True, text=True,
                            timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    full, resumed = (log_history(tmp_path / "runs" / name) for name in ("tiny", "tiny-resumed"))
    assert [entry["step"] for entry in resumed] == [4, 5, 6]
    assert [entry["loss"] for entry in resumed] == [entry["loss"] for entry in full[3:]]


def test_an_index_file_with_class_names_streams_unlabeled_for_pretraining(synthetic_dataset_dir):
    # pretraining ignores labels: a streamed index must not ask for the class names (it did: label_column was lost)
    train = load_video_dataset(synthetic_dataset_dir / "train.jsonl", label_column=None, streaming=True)["train"]
    names = sum(stream_names(VideoStream(train, 2, seed=0), 4), [])
    assert len(set(names)) == 8 and all(name.endswith(".mp4") for name in names)
