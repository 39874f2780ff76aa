"""The reconstruction picture: API on pixel_values, honest patch statistics, PNG grid, GIF and the CLI."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from modeling_mae_st import MAESTConfig, MAESTForPreTraining, MAESTModel
from modeling_mae_st.hub import default_video_processor, save_for_hub
from modeling_mae_st.visualization import (
    PATCH_STATISTICS_CAPTIONS,
    main,
    save_reconstruction_gif,
    save_reconstruction_grid,
    visualize_reconstruction,
)


DEMO_VIDEO = Path(__file__).resolve().parents[1].parent / "shared" / "videos" / "demo.avi"
TINY = dict(
    image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=4, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=4, decoder_intermediate_size=32, pred_t_dim=2,
)


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
    with pytest.raises(TypeError, match="pretraining checkpoint"):
        visualize_reconstruction(MAESTModel(MAESTConfig(**TINY)), pixel_values)


@pytest.mark.skipif(default_video_processor() is None, reason="no video processor module yet")
def test_command_line_on_the_demo_video_from_a_saved_folder(model, tmp_path, capsys):
    folder = save_for_hub(model, tmp_path / "model", video_processor=default_video_processor(model.config))
    main([str(DEMO_VIDEO), "--model", str(folder), "--mask_ratio", "0.5", "--output", str(tmp_path / "demo.gif")])
    assert Image.open(tmp_path / "demo.gif").n_frames == 2
    assert Image.open(tmp_path / "demo.png").format == "PNG"
    assert "nearest visible patches" in capsys.readouterr().out
