"""Synthetic motion datasets: real files, deterministic from a seed, classes defined by motion."""

import json

import numpy as np
import pytest

from modeling_mae_st.synthetic import (
    MOTIONS,
    make_synthetic_pretraining_videos,
    make_synthetic_video_dataset,
    render_motion_video,
    write_video,
)
from modeling_mae_st.video_decoding import read_video_info


def test_dataset_layout_and_index_files(tmp_path):
    files = make_synthetic_video_dataset(
        tmp_path, classes=("up", "left"), num_videos_per_class=2, num_validation_videos_per_class=1, num_frames=12,
        size=(48, 32), fps=25, seed=0,
    )  # fmt: skip
    assert [(path.relative_to(tmp_path).as_posix(), label) for path, label in files["validation"]] == [
        ("validation/left/left_0000.mp4", "left"),
        ("validation/up/up_0000.mp4", "up"),
    ]
    assert len(files["train"]) == 4 and all(path.is_file() for path, _ in files["train"])
    info = read_video_info(files["train"][0][0], "pyav")
    assert (info.num_frames, info.fps) == (12, 25)
    # Official CSV layout: "<path> <label id>", ids in sorted class order; JSONL with class names.
    assert (tmp_path / "val.csv").read_text().splitlines() == [
        "validation/left/left_0000.mp4 0",
        "validation/up/up_0000.mp4 1",
    ]
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert rows[0] == {"path": "train/left/left_0000.mp4", "label": "left"}


def test_same_seed_writes_the_same_files_and_another_seed_does_not(tmp_path):
    kwargs = dict(num_videos_per_class=1, num_validation_videos_per_class=0, num_frames=8, size=(32, 32))
    first = make_synthetic_video_dataset(tmp_path / "a", seed=3, **kwargs)["train"]
    again = make_synthetic_video_dataset(tmp_path / "b", seed=3, **kwargs)["train"]
    other = make_synthetic_video_dataset(tmp_path / "c", seed=4, **kwargs)["train"]
    assert [path.read_bytes() for path, _ in first] == [path.read_bytes() for path, _ in again]
    assert all(a.read_bytes() != c.read_bytes() for (a, _), (c, _) in zip(first, other))


@pytest.mark.parametrize("motion, axis, sign", [("right", 1, 1), ("left", 1, -1), ("down", 0, 1), ("up", 0, -1)])
def test_translation_classes_move_the_shape_in_their_direction(motion, axis, sign):
    """Each frame matches the previous one shifted along the class's direction better than against it."""
    for seed in range(3):
        frames = render_motion_video(motion, 10, (96, 64), np.random.default_rng(seed)).astype(np.float32)
        errors = {shift: 0.0 for shift in (-2, -1, 1, 2)}
        for t in range(9):
            changed = np.any(frames[t + 1] != frames[t], axis=-1)  # pixels the shape enters or leaves
            for shift in errors:
                errors[shift] += np.abs(frames[t + 1] - np.roll(frames[t], shift, axis=axis))[changed].mean()
        best = min(errors, key=errors.get)
        assert np.sign(best) == sign, (motion, seed, errors)


def test_every_motion_renders_and_classes_differ_only_in_motion():
    for motion in MOTIONS:
        frames = render_motion_video(motion, 6, (48, 32), np.random.default_rng(0))
        assert frames.shape == (6, 32, 48, 3) and frames.dtype == np.uint8
        assert not np.array_equal(frames[0], frames[-1])  # something moves
    # Appearance does not depend on the class: with the same random draws, the first frames are identical.
    motions = ("left", "right", "up", "down")
    first_frames = [render_motion_video(motion, 2, (48, 32), np.random.default_rng(5))[0] for motion in motions]
    assert all(np.array_equal(first_frames[0], frame) for frame in first_frames[1:])


def test_pretraining_videos_and_input_checks(tmp_path):
    paths = make_synthetic_pretraining_videos(tmp_path, num_videos=3, num_frames=6, size=(32, 32), codec="libx264")
    assert [path.name for path in paths] == ["video_0000.mp4", "video_0001.mp4", "video_0002.mp4"]
    frames = np.zeros((2, 31, 32, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="even.*32x31"):
        write_video(tmp_path / "odd.mp4", frames)
    with pytest.raises(ValueError, match="Unknown codec 'h265'"):
        write_video(tmp_path / "x.mp4", frames, codec="h265")
    with pytest.raises(ValueError, match="'sideways'"):
        make_synthetic_video_dataset(tmp_path, classes=("left", "sideways"))
