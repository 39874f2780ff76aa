"""
Shared pytest setup and fixtures.

No test may reach the Hub: HF_HUB_OFFLINE is set here, before any test module imports transformers or
huggingface_hub (they read it at import), so this file imports neither at its top: its fixtures import the package
when they run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest


if TYPE_CHECKING:
    from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor

os.environ["HF_HUB_OFFLINE"] = "1"

REPO_ROOT = Path(__file__).resolve().parent.parent


def launch_two_cpu_processes(
    script: str | Path, arguments: list[str], timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    """
    Run a training script in 2 CPU processes (gloo) with `accelerate launch`; fail the test with the end of its log
    if it fails (`check`), else return what it did. (`accelerate launch --cpu` alone starts several processes
    through mpirun only; with ACCELERATE_USE_CPU the torchrun launcher of --multi_gpu starts them on CPU, and
    Accelerate picks gloo.)
    """
    with socket.socket() as probe:  # a free port for the processes' rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes=2", "--num_machines=1",
        "--mixed_precision=no", "--dynamo_backend=no", f"--main_process_port={port}", str(script), *arguments,
    ]  # fmt: skip
    environment = {
        **os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
        "ACCELERATE_USE_CPU": "true",
    }  # fmt: skip
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0 or not check, result.stderr[-3000:]
    return result


# transformers' common model tests (tests/fetch_transformers_tests.py)
# `python tests/fetch_transformers_tests.py` extracts them into .transformers_tests/transformers_tests (git-ignored);
# with that folder on sys.path tests import `transformers_tests.test_modeling_common` and friends.
TRANSFORMERS_TESTS_DIR = Path(__file__).resolve().parent.parent / ".transformers_tests"
if str(TRANSFORMERS_TESTS_DIR) not in sys.path:
    sys.path.insert(0, str(TRANSFORMERS_TESTS_DIR))

# markers the common tests use, registered by transformers' own conftest.py (not shipped in the sdist)
TRANSFORMERS_TEST_MARKERS = {
    "accelerate_tests": "tests that need accelerate on several devices",
    "flash_attn_test": "tests that need flash attention 2",
    "flash_attn_3_test": "tests that need flash attention 3",
    "flash_attn_4_test": "tests that need flash attention 4",
    "slow": "slow tests, run with RUN_SLOW=1",
    "torch_compile_test": "tests that run torch.compile",
}


def pytest_configure(config):
    for name, description in TRANSFORMERS_TEST_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"  # ../shared beside the repository


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """
    ../shared beside the repository: the official fixtures and the demo clip. Without it a test fails in CI (`CI` set,
    as CI services and .ci/run do), where nothing may go untested, and is skipped elsewhere.
    """
    if not SHARED_DIR.is_dir():
        message = f"{SHARED_DIR} is missing: ../shared (fixtures/, videos/demo.avi) must sit beside the repository."
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DIR


@pytest.fixture(scope="session")
def official_fixtures(shared_dir) -> Path:
    """../shared/fixtures: tiny official checkpoints with the official code's outputs (see their README.md files)."""
    return shared_dir / "fixtures"


@pytest.fixture(scope="session")
def demo_video(shared_dir) -> Path:
    """The official demo clip (853x480 MPEG-4 in AVI, 30 fps; header says 301 frames, decoders give 300)."""
    return shared_dir / "videos" / "demo.avi"


@pytest.fixture(scope="session")
def codec_videos(tmp_path_factory) -> dict[str, Path]:
    """One real encoded video per codec and size: name -> path. Content is a moving textured shape."""
    from modeling_mae_st.synthetic import render_motion_video, write_video

    folder = tmp_path_factory.mktemp("codec_videos")
    rng = np.random.default_rng(0)
    specs = {
        "mpeg4_96x64.mp4": ("mpeg4", (96, 64), 40),
        "h264_64x48.mp4": ("libx264", (64, 48), 30),
        "vp9_64x48.webm": ("libvpx-vp9", (64, 48), 24),
        "mjpeg_80x64.avi": ("mjpeg", (80, 64), 20),
        "h264_portrait_64x96.mp4": ("libx264", (64, 96), 30),
        # decord cannot read frames narrower than 64 pixels (its frame copy fails); PyAV can.
        "mpeg4_narrow_48x64.mp4": ("mpeg4", (48, 64), 20),
    }
    return {
        name: write_video(folder / name, render_motion_video("right", num_frames, size, rng), fps=30, codec=codec)
        for name, (codec, size, num_frames) in specs.items()
    }


@pytest.fixture(scope="session")
def broken_videos(tmp_path_factory, codec_videos) -> dict[str, Path]:
    """Files that are not readable videos: name -> path (the "missing" one does not exist)."""
    folder = tmp_path_factory.mktemp("broken_videos")
    good = codec_videos["h264_64x48.mp4"].read_bytes()
    files = {
        "empty": (folder / "empty.mp4", b""),
        "not_a_video": (folder / "notes.mp4", b"this is a text file, not a video\n" * 10),
        # MP4 keeps its index (moov) at the end: cut in half, the file has no index at all.
        "truncated": (folder / "truncated.mp4", good[: len(good) // 2]),
    }
    for path, content in files.values():
        path.write_bytes(content)
    return {name: path for name, (path, _) in files.items()} | {"missing": folder / "missing.mp4"}


@pytest.fixture(scope="session")
def synthetic_dataset_dir(tmp_path_factory) -> Path:
    """A small labeled synthetic dataset (4 motion classes, 2 train + 1 validation videos each, 64x48, 24 frames)."""
    from modeling_mae_st.synthetic import make_synthetic_video_dataset

    folder = tmp_path_factory.mktemp("synthetic_dataset")
    make_synthetic_video_dataset(
        folder, num_videos_per_class=2, num_validation_videos_per_class=1, num_frames=24, size=(64, 48), seed=0
    )
    return folder


@pytest.fixture
def small_processor() -> MAESTVideoProcessor:
    """Official pipeline at test size: 4 frames with stride 2, 32x32 crops of frames with a 40-pixel short side."""
    from modeling_mae_st.video_processing_mae_st import MAESTVideoProcessor

    return MAESTVideoProcessor(
        num_frames=4, sampling_rate=2, crop_size=32, short_side_size=40, train_jitter_scales=(40, 48)
    )


# A tiny model (4 frames of 32x32) for the fine-tuning, Trainer and feature tests.
TINY = dict(
    image_size=32, patch_size=16, num_frames=4, tubelet_size=2, hidden_size=32, num_hidden_layers=2,
    num_attention_heads=2, intermediate_size=64, decoder_hidden_size=16, decoder_num_hidden_layers=1,
    decoder_num_attention_heads=2, decoder_intermediate_size=32, pred_t_dim=4,
)  # fmt: skip


@pytest.fixture(scope="session")
def tiny_pretrained(tmp_path_factory) -> Path:
    """A folder as our pretraining writes it: a tiny `MAESTForPreTraining` (4 frames of 32x32)."""
    import torch

    from modeling_mae_st import MAESTConfig, MAESTForPreTraining

    folder = tmp_path_factory.mktemp("tiny_pretrained")
    torch.manual_seed(0)
    MAESTForPreTraining(MAESTConfig(**TINY)).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def motion_videos(tmp_path_factory) -> Path:
    """Synthetic motion classes as MPEG-4 files: train/<class>/ (3 each), validation/<class>/ (1 each), indexes."""
    from modeling_mae_st.synthetic import make_synthetic_video_dataset

    folder = tmp_path_factory.mktemp("motion_videos")
    make_synthetic_video_dataset(
        folder, num_videos_per_class=3, num_validation_videos_per_class=1, num_frames=16, size=(40, 32)
    )
    return folder
