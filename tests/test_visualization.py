"""Reconstruction pictures (modeling_mae_st.visualization) and `mae-st-visualize`: the pictures, honest patch
statistics, the hidden-patch error against the visible-average predictor, PNG grid, GIF, and the command line."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from mae_st_commands.visualize import main
from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTForVideoClassification, MAESTModel
from modeling_mae_st.hub import default_video_processor, save_for_hub
from modeling_mae_st.visualization import (
    PATCH_STATISTICS_CAPTIONS,
    hidden_patch_error,
    reconstruct,
    save_reconstruction_gif,
    save_reconstruction_grid,
    visualize_reconstruction,
)


TINY = dict(
    image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=4, decoder_intermediate_size=32, pred_t_dim=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def model() -> MAESTForPreTraining:
    torch.manual_seed(0)
    return MAESTForPreTraining(MAESTConfig(**TINY))


@pytest.fixture(scope="module")
def pixel_values() -> torch.Tensor:
    # A smooth moving gradient, so visible neighbours say something about hidden patches.
    t, y, x = torch.meshgrid(torch.arange(4.0), torch.arange(32.0), torch.arange(32.0), indexing="ij")
    frames = torch.stack([(x + 4 * t) / 48, y / 32, torch.full_like(x, 0.5)], dim=1)  # (frames, channels, H, W)
    return ((frames - 0.45) / 0.225).unsqueeze(0).repeat(2, 1, 1, 1, 1)


@pytest.fixture(scope="module")
def pretraining_folder(model, tmp_path_factory):
    """`model` saved as our tools save it, with a processor whose clips differ from the official default's."""
    processor = default_video_processor(model.config).with_settings(sampling_rate=1)
    return save_for_hub(model, tmp_path_factory.mktemp("pretraining"), video_processor=processor)


@pytest.mark.parametrize("statistics", ["visible", "target"])
def test_reconstruct_keeps_visible_patches(statistics):
    model = MAESTForPreTraining(MAESTConfig(**{**TINY, "num_frames": 8, "pred_t_dim": 4})).eval()
    pixel_values = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = model(pixel_values)
    pictures = reconstruct(model, pixel_values, out.logits, out.mask, patch_statistics=statistics)
    assert set(pictures) == {"original", "masked", "reconstruction"}
    assert pictures["reconstruction"].shape == (2, 4, 3, 32, 32)
    visible = (1 - out.mask).bool()
    original = model.patchify(pictures["original"])
    assert torch.equal(model.patchify(pictures["reconstruction"])[visible], original[visible])
    assert (model.patchify(pictures["masked"])[~visible] == 0).all()


def test_honest_statistics_do_not_read_hidden_pixels():
    model = MAESTForPreTraining(MAESTConfig(**{**TINY, "num_frames": 8, "pred_t_dim": 4})).eval()
    pixel_values = torch.randn(2, 8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = model(pixel_values)
    changed = pixel_values.clone()
    hidden = out.mask.bool()
    # change only hidden pixels: the honest reconstruction must not move, the official one does
    target_frames = model.target_frame_indices(8)
    patches = model.patchify(changed[:, target_frames])
    patches[hidden] = patches[hidden] * 3 + 1
    changed[:, target_frames] = model.unpatchify(patches)
    honest = [reconstruct(model, x, out.logits, out.mask, "visible")["reconstruction"] for x in (pixel_values, changed)]
    official = [
        reconstruct(model, x, out.logits, out.mask, "target")["reconstruction"] for x in (pixel_values, changed)
    ]
    torch.testing.assert_close(honest[0], honest[1])
    assert not torch.allclose(official[0], official[1])


def test_hidden_patch_error_is_zero_for_the_truth_and_one_for_the_visible_average(model, pixel_values):
    out = model(pixel_values, mask_ratio=0.75)
    target = model.target_patches(pixel_values)  # (batch, num_patches, pixels_per_patch)
    visible = (1 - out.mask).unsqueeze(-1)
    visible_average = (target * visible).sum(1, keepdim=True) / visible.sum(1, keepdim=True)
    assert hidden_patch_error(model, pixel_values, target, out.mask).ratio == 0
    trivial = hidden_patch_error(model, pixel_values, visible_average.expand_as(target), out.mask)
    assert trivial.ratio == pytest.approx(1.0) and trivial.num_clips == 2
    # the model's own error is its loss, in its target space
    assert hidden_patch_error(model, pixel_values, out.logits, out.mask).model == pytest.approx(out.loss.item())


def test_hidden_patch_error_with_no_visible_patch_says_so_instead_of_nan(model, pixel_values):
    out = model(pixel_values, mask_ratio=0.75)
    everything_hidden = torch.ones_like(out.mask)
    error = hidden_patch_error(model, pixel_values, out.logits, everything_hidden)
    assert math.isnan(error.ratio)
    assert "nan" not in str(error) and "no patch visible" in str(error)


def test_reconstruction_keeps_visible_patches_and_is_seeded(model, pixel_values):
    first = visualize_reconstruction(model, pixel_values, mask_ratio=0.75, seed=3)
    again = visualize_reconstruction(model, pixel_values, mask_ratio=0.75, seed=3)
    other = visualize_reconstruction(model, pixel_values, mask_ratio=0.75, seed=4)
    assert first.original.shape == (2, 2, 32, 32, 3) and first.original.dtype == np.uint8
    assert first.frame_indices == [0, 3]
    np.testing.assert_array_equal(first.reconstruction, again.reconstruction)
    assert not np.array_equal(first.masked, other.masked)
    visible = first.masked != round(0.45 * 255)  # hidden patches show the normalization mean, a grey
    np.testing.assert_array_equal(first.reconstruction[visible], first.original[visible])
    # the processor's normalization is undone: real colours back in [0, 255]
    assert abs(int(first.original[0, 0, 31, 0, 1]) - round(31 / 32 * 255)) <= 1


def test_patch_statistics_default_to_visible_patches_and_the_caption_says_so(model, pixel_values):
    honest = visualize_reconstruction(model, pixel_values)
    official = visualize_reconstruction(model, pixel_values, patch_statistics="target")
    np.testing.assert_array_equal(honest.masked, official.masked)
    assert not np.array_equal(honest.reconstruction, official.reconstruction)
    assert PATCH_STATISTICS_CAPTIONS["visible"] in honest.caption and "90%" in honest.caption
    assert "leaks information" in official.caption
    assert f"{honest.error.ratio:.2f}x" in honest.caption and "visible average (2 clips)" in honest.caption
    with pytest.raises(ValueError, match="patch_statistics"):
        visualize_reconstruction(model, pixel_values, patch_statistics="oracle")


def test_grid_and_gif_files_and_training_mode_restored(model, pixel_values, tmp_path):
    model.train()
    frames = save_reconstruction_grid(model, pixel_values[:1], tmp_path / "grid.png")
    assert model.training
    grid = Image.open(tmp_path / "grid.png")
    assert grid.width >= 2 * 96 and grid.height >= 3 * 96  # 3 rows x 2 target frames of upscaled 32x32 cells
    save_reconstruction_gif(model, pixel_values[0], tmp_path / "out.gif")
    gif = Image.open(tmp_path / "out.gif")
    assert gif.n_frames == len(frames.frame_indices) == 2
    model.eval()


def test_model_without_decoder_is_refused(pixel_values):
    with pytest.raises(TypeError, match="pretraining model"):
        visualize_reconstruction(MAESTModel(MAESTConfig(**TINY)), pixel_values)


def test_command_line_uses_the_folder_processor_and_prints_the_error(
    model, pretraining_folder, codec_videos, tmp_path, capsys
):
    videos = [str(codec_videos["mpeg4_96x64.mp4"]), str(codec_videos["h264_64x48.mp4"])]
    main([*videos, "--model_name_or_path", str(pretraining_folder), "--output", str(tmp_path / "demo.gif")])
    assert Image.open(tmp_path / "demo.gif").n_frames == 2
    assert Image.open(tmp_path / "demo.png").format == "PNG"
    out = capsys.readouterr().out
    saved = default_video_processor(model.config).with_settings(sampling_rate=1)
    expected = visualize_reconstruction(model, videos, video_processor=saved)
    official = visualize_reconstruction(model, videos, video_processor=default_video_processor(model.config))
    assert str(expected.error) in out and "(2 clips)" in out  # the clips of the folder's processor
    assert str(official.error) not in out


def test_command_line_old_model_flag_still_works_with_a_warning(pretraining_folder, codec_videos, tmp_path, capsys):
    video = str(codec_videos["mpeg4_96x64.mp4"])
    main([video, "--model", str(pretraining_folder), "--output", str(tmp_path / "a.gif")])
    captured = capsys.readouterr()
    assert "--model is deprecated; use --model_name_or_path" in captured.err
    assert "visible average" in captured.out


@pytest.mark.parametrize("model_class", [MAESTForVideoClassification, MAESTModel])
def test_command_line_refuses_a_folder_without_decoder_weights(model_class, codec_videos, tmp_path, capsys):
    model = model_class(MAESTConfig(**TINY, num_labels=3))
    folder = save_for_hub(model, tmp_path / "no_decoder", video_processor=default_video_processor(model.config))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([str(codec_videos["mpeg4_96x64.mp4"]), "--model_name_or_path", str(folder)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"--model_name_or_path {folder}: its weights have no decoder ({model_class.__name__})" in err
    assert not (tmp_path / "reconstruction.png").exists()


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--mask_ratio", "1"], "--mask_ratio must be between 0 and 1 (exclusive), got 1.0"),
        (["--frame_duration_ms", "0"], "argument --frame_duration_ms/--frame-duration-ms: must be at least 1, got 0"),
        (["--seed", "-1"], "argument --seed: must be in [0, 2**32), got -1"),  # as the training commands
    ],
)
def test_command_line_reports_a_wrong_number_in_one_line(flags, message, codec_videos, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(codec_videos["mpeg4_96x64.mp4"]), "--model_name_or_path", str(tmp_path), *flags])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and stderr == f"mae-st-visualize: error: {message}\n"
