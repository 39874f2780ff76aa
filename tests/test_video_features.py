"""Sliding-window video features: `get_video_features` pooling, `embed_video` and the `mae-st-embed` command."""

import numpy as np
import pytest
import torch
from safetensors import safe_open

from mae_st_commands.embed import main

from modeling_mae_st import MAESTConfig, MAESTForVideoClassification, MAESTModel
from modeling_mae_st.video_features import embed_video, sliding_windows
from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor
from conftest import TINY


@pytest.fixture(scope="module")
def tiny_encoder_folder(tmp_path_factory):
    """A tiny encoder and its processor saved together, as a fine-tuned or pretrained folder holds them."""
    folder = tmp_path_factory.mktemp("tiny_encoder")
    torch.manual_seed(0)
    MAESTModel(MAESTConfig(**TINY)).save_pretrained(folder)
    MAESTVideoProcessor(num_frames=4, crop_size=32, short_side_size=36).save_pretrained(folder)
    return folder


def test_video_features_are_the_normed_mean_of_patch_tokens_the_classifier_reads():
    torch.manual_seed(0)
    classifier = MAESTForVideoClassification(MAESTConfig(**TINY, num_labels=3)).eval()
    pixel_values = torch.randn(2, 4, 3, 32, 32)
    features = classifier.get_video_features(pixel_values).pooler_output
    tokens = classifier.mae_st(pixel_values).last_hidden_state  # normed tokens, cls first
    encoder = classifier.mae_st
    hidden = encoder.embeddings(pixel_values)[0]
    hidden = torch.cat([encoder.embeddings.cls_embedding().expand(2, -1, -1), hidden], dim=1)
    for layer in encoder.layers:
        hidden = layer(hidden)
    assert features.shape == (2, TINY["hidden_size"]) and tokens.shape[1] == 1 + 2 * 2 * 2
    assert torch.allclose(features, encoder.layernorm(hidden[:, 1:].mean(1)), atol=1e-5)
    logits = classifier(pixel_values).logits
    assert torch.allclose(logits, classifier.classifier(features), atol=1e-5)


def test_sliding_windows_step_by_the_stride_and_cover_the_end():
    indices, times = sliding_windows(
        num_video_frames=300, fps=30.0, num_frames=4, window_seconds=2.0, stride_seconds=1.0
    )
    assert indices.shape == (9, 4)
    assert indices[0].tolist() == [0, 20, 39, 59] and indices[-1, -1] == 299
    assert np.allclose(times[:, 0], np.arange(9)) and np.allclose(times[:, 1] - times[:, 0], 2.0)
    # a tail longer than half a stride gets a last window ending at the last frame
    indices, _ = sliding_windows(num_video_frames=100, fps=10.0, num_frames=4, window_seconds=3.0, stride_seconds=2.5)
    assert indices[:, 0].tolist() == [0, 25, 50, 70] and indices[-1, -1] == 99
    short, _ = sliding_windows(num_video_frames=10, fps=30.0, num_frames=4, window_seconds=2.0, stride_seconds=1.0)
    assert short.tolist() == [[0, 3, 6, 9]]
    with pytest.raises(ValueError, match="stride_seconds"):
        sliding_windows(300, 30.0, 4, 2.0, 0.0)


def test_embed_video_gives_one_vector_per_window_and_their_mean(tiny_encoder_folder, demo_video):
    model = MAESTModel.from_pretrained(tiny_encoder_folder)
    processor = MAESTVideoProcessor.from_pretrained(tiny_encoder_folder)
    result = embed_video(
        model, processor, demo_video, window_seconds=2.0, stride_seconds=2.0, batch_size=2, progress=False
    )
    assert result.window_embeddings.shape == (5, TINY["hidden_size"])  # 10 s of video
    assert torch.allclose(result.video_embedding, result.window_embeddings.mean(0))
    # a window embeds like the processor's clip of the same frames through get_video_features
    from modeling_mae_st.video_decoding import decode_frames

    frames, _ = decode_frames(demo_video, lambda info: result.window_frames[1].numpy())
    clip = processor([frames], do_sample_frames=False, return_tensors="pt")["pixel_values"]
    assert torch.allclose(result.window_embeddings[1], model.get_video_features(clip).pooler_output[0], atol=1e-5)


@pytest.mark.parametrize("fps", [15, 60])
def test_the_default_window_is_a_training_clips_span_whatever_the_videos_frame_rate(tiny_encoder_folder, tmp_path, fps):
    """The default window was `num_frames * sampling_rate / fps` of the video's own rate, where a training clip spans
    `num_frames * sampling_rate / target_fps` (30): half a clip at 60 fps, twice one at 15."""
    from modeling_mae_st.synthetic import render_motion_video, write_video

    path = write_video(tmp_path / f"at_{fps}_fps.mp4", render_motion_video("right", 3 * fps, (48, 40),
                       np.random.default_rng(0)), fps=fps)  # fmt: skip
    model = MAESTModel.from_pretrained(tiny_encoder_folder)
    processor = MAESTVideoProcessor.from_pretrained(tiny_encoder_folder)  # 4 frames, sampling rate 4: 16/30 s
    result = embed_video(model, processor, path, progress=False)
    spans = result.window_times[:, 1] - result.window_times[:, 0]
    assert torch.allclose(spans, torch.tensor(4 * 4 / 30, dtype=spans.dtype))


def test_embed_command_writes_embeddings_per_video(tiny_encoder_folder, demo_video, tmp_path):
    output = tmp_path / "embeddings.safetensors"
    main([str(demo_video), "--model_name_or_path", str(tiny_encoder_folder), "--output", str(output),
          "--window_seconds", "4", "--stride_seconds", "3", "--batch_size", "4",
          "--decoding_backend", "pyav"])  # the processor's name for it (--backend before)  # fmt: skip
    with safe_open(str(output), "pt") as f:
        assert f.metadata() == {"0": str(demo_video)}
        assert f.get_tensor("0/window_embeddings").shape == (3, TINY["hidden_size"])
        assert f.get_tensor("0/video_embedding").shape == (TINY["hidden_size"],)
    assert output.stat().st_mode & 0o044 == 0o044  # readable by all as .npz and .pt outputs (it was 0600)


def run_embed(capsys, *argv: str) -> tuple[int, str]:
    """Run `mae-st-embed` in-process expecting it to stop; return its exit status and stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return exit_info.value.code, capsys.readouterr().err


def test_embed_command_takes_other_clips_only_with_interpolate_pos_encoding(
    tiny_encoder_folder, demo_video, tmp_path, capsys
):
    processor_folder = tmp_path / "processor"
    MAESTVideoProcessor(num_frames=8, crop_size=48, short_side_size=56).save_pretrained(processor_folder)
    argv = [str(demo_video), "--model_name_or_path", str(tiny_encoder_folder), "--processor_name_or_path",
            str(processor_folder), "--output", str(tmp_path / "e.npz"), "--window_seconds", "5"]  # fmt: skip
    status, stderr = run_embed(capsys, *argv)
    assert status == 2 and "Traceback" not in stderr
    assert stderr.splitlines()[-1] == (
        "mae-st-embed: error: The video processor makes clips of 8 frames of 48x48, but the model takes 4 frames of "
        "32x32: pass --interpolate_pos_encoding to run the model on them."
    )
    main([*argv, "--interpolate_pos_encoding"])
    assert np.load(tmp_path / "e.npz")["0/window_embeddings"].shape == (2, TINY["hidden_size"])


def test_embed_command_uses_the_models_clips_for_a_folder_without_processor(demo_video, tmp_path, caplog):
    folder = tmp_path / "model"
    MAESTModel(MAESTConfig(**TINY)).save_pretrained(folder)  # saved by hand: no processor
    main([str(demo_video), "--model_name_or_path", str(folder), "--output", str(tmp_path / "e.pt"),
          "--window_seconds", "5"])  # fmt: skip
    assert "has no video_preprocessor_config.json" in caplog.text
    assert torch.load(tmp_path / "e.pt")["0/window_embeddings"].shape == (2, TINY["hidden_size"])


def test_embed_command_reports_a_users_mistake_in_one_line(tiny_encoder_folder, demo_video, tmp_path, capsys):
    status, stderr = run_embed(capsys, str(tmp_path / "gone.mp4"), "--model_name_or_path", str(tiny_encoder_folder))
    assert (status, stderr) == (2, f"mae-st-embed: error: No such video file: {tmp_path / 'gone.mp4'}\n")
    status, stderr = run_embed(capsys, str(tmp_path), "--model_name_or_path", str(tiny_encoder_folder))
    folder_error = f"mae-st-embed: error: A folder, not a video file (give the videos in it): {tmp_path}\n"
    assert (status, stderr) == (2, folder_error)
    status, stderr = run_embed(capsys, str(demo_video), "--model_name_or_path", str(tmp_path / "no_model"))
    assert status == 2 and stderr.count("\n") == 1 and "Traceback" not in stderr
    assert stderr == f"mae-st-embed: error: --model_name_or_path {tmp_path / 'no_model'}: no such folder\n"
    status, stderr = run_embed(capsys, str(demo_video), "--model_name_or_path", "x", "--output", "e.csv")
    assert status == 2 and "--output e.csv: unknown format" in stderr


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--window_seconds", "-1"], "argument --window_seconds/--window-seconds: must be above 0, got -1"),
        (["--stride_seconds", "0"], "argument --stride_seconds/--stride-seconds: must be above 0, got 0"),
        (["--batch_size", "0"], "argument --batch_size/--batch-size: must be at least 1, got 0"),
        (["--sampling_rate", "two"], "argument --sampling_rate/--sampling-rate: must be a whole number, got 'two'"),
        (["--device", "gpu"], "--device gpu: Expected one of cpu, cuda"),
    ],
)
def test_embed_command_reports_a_wrong_number_or_device_in_one_line(
    flags, message, tiny_encoder_folder, demo_video, capsys
):
    status, stderr = run_embed(capsys, str(demo_video), "--model_name_or_path", str(tiny_encoder_folder), *flags)
    assert (status, stderr.count("\n")) == (2, 1) and stderr.startswith(f"mae-st-embed: error: {message}"), stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="a machine without a CUDA device")
def test_embed_command_on_a_missing_cuda_device_is_one_line(tiny_encoder_folder, demo_video, capsys):
    status, stderr = run_embed(
        capsys, str(demo_video), "--model_name_or_path", str(tiny_encoder_folder), "--device", "cuda"
    )
    assert (status, stderr.count("\n")) == (2, 1) and stderr.startswith("mae-st-embed: error: --device cuda: "), stderr
