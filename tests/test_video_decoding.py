"""Decoding real files with decord and PyAV: same frames, robust counts, clear errors, fallback, guards."""

import os
import pickle
import subprocess
import sys
import time

import av
import numpy as np
import pytest

from modeling_mae_st.video_decoding import (
    VideoDecodingError,
    decode_distinct_frames,
    decode_frames,
    default_backend,
    open_video,
    read_video_info,
)


CODEC_VIDEOS = ["mpeg4_96x64.mp4", "h264_64x48.mp4", "vp9_64x48.webm", "mjpeg_80x64.avi", "h264_portrait_64x96.mp4"]


@pytest.fixture(scope="module")
def damaged_indexed_mp4(tmp_path_factory):
    """An H.264 MP4 of noise frames written with its index (moov) first ("faststart"), its second half then zeroed:
    the index lists every frame, the early ones decode, the late ones do not. (Cut instead, it is a truncated file,
    which both decoders refuse at once.)"""
    path = tmp_path_factory.mktemp("damaged") / "faststart.mp4"
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for frame in np.random.default_rng(1).integers(0, 256, size=(60, 48, 64, 3), dtype=np.uint8):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
    return path


@pytest.mark.parametrize("name", CODEC_VIDEOS)
def test_decord_and_pyav_give_identical_frames_for_the_same_indices(codec_videos, name):
    path = codec_videos[name]
    indices = np.random.default_rng(0).integers(0, 40, size=(3, 8))  # some past the end, to be clamped
    with open_video(path, "decord") as decord_reader, open_video(path, "pyav") as pyav_reader:
        assert decord_reader.info.num_frames == pyav_reader.info.num_frames
        assert decord_reader.info.fps == pytest.approx(pyav_reader.info.fps) == 30
        decord_frames = decord_reader.get_frames(indices)
        pyav_frames = pyav_reader.get_frames(indices)
    width, height = (int(side) for side in name.rsplit("_", 1)[1].split(".")[0].split("x"))
    assert decord_frames.shape == (3, 8, height, width, 3)
    assert decord_frames.dtype == np.uint8
    np.testing.assert_array_equal(decord_frames, pyav_frames)


@pytest.mark.parametrize("backend", ["decord", "pyav"])
def test_overlapping_windows_decode_each_distinct_frame_once(codec_videos, backend):
    path = codec_videos["h264_64x48.mp4"]
    # overlapping windows, and indices past the last frame (29), which all clamp to it
    windows = np.array([[2, 4, 6, 8], [6, 8, 10, 12], [28, 29, 31, 35]])
    frames, inverse, info = decode_distinct_frames(path, lambda info: windows, backend=backend)
    assert frames.shape == (8, 48, 64, 3)  # frames 2, 4, 6, 8, 10, 12, 28, 29
    assert inverse.shape == windows.shape
    expected, _ = decode_frames(path, lambda info: windows, backend=backend)
    np.testing.assert_array_equal(frames[inverse], expected)
    assert info.backend == backend


def test_pyav_skipping_unneeded_b_frames_returns_the_frames_of_a_full_decode(codec_videos):
    path = codec_videos["h264_64x48.mp4"]
    with av.open(str(path)) as container:
        full = [frame for frame in container.decode(video=0)]
    assert sum(frame.pict_type == av.video.frame.PictureType.B for frame in full) > 5  # frames that can be skipped
    expected = np.stack([frame.to_ndarray(format="rgb24") for frame in full])
    with open_video(path, "pyav") as reader:
        for indices in ([1, 2, 9, 17], [0, 5, 6, 7, 28], [3, 4, 29]):  # reads after skipping, and seeks back
            np.testing.assert_array_equal(reader.get_frames(np.array(indices)), expected[indices])


def test_demo_clip_frame_count_comes_from_the_decoders_not_the_header(demo_video):
    with av.open(str(demo_video)) as container:
        assert container.streams.video[0].frames == 301  # the header's count
    decord_info, pyav_info = read_video_info(demo_video, "decord"), read_video_info(demo_video, "pyav")
    assert decord_info.num_frames == pyav_info.num_frames == 300
    assert decord_info.fps == pyav_info.fps == 30
    # Index 300 (which the header promises) clamps to the last decodable frame, in both decoders.
    indices = np.array([0, 150, 299, 300])
    with open_video(demo_video, "decord") as decord_reader, open_video(demo_video, "pyav") as pyav_reader:
        decord_frames, pyav_frames = decord_reader.get_frames(indices), pyav_reader.get_frames(indices)
    assert decord_frames.shape == (4, 480, 853, 3)
    np.testing.assert_array_equal(decord_frames, pyav_frames)
    np.testing.assert_array_equal(decord_frames[2], decord_frames[3])


def test_pyav_reads_only_the_frames_it_needs(damaged_indexed_mp4):
    with open_video(damaged_indexed_mp4, "pyav") as reader:
        assert reader.get_frames(np.array([0, 3, 5])).shape == (3, 48, 64, 3)  # early frames: no need to go further
        with pytest.raises(VideoDecodingError, match="faststart.mp4"):
            reader.get_frames(np.array([reader.info.num_frames - 1]))


def test_decord_failure_falls_back_to_pyav(codec_videos):
    path = codec_videos["mpeg4_narrow_48x64.mp4"]
    with pytest.raises(VideoDecodingError, match="decord"):
        with open_video(path, "decord") as reader:
            reader.get_frames(np.arange(4))
    frames, info = decode_frames(path, lambda info: np.arange(4), backend="decord")
    assert info.backend == "pyav"
    assert frames.shape[0] == 4 and frames.shape[-1] == 3


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("name", ["empty", "not_a_video", "truncated", "missing", "folder"])
def test_broken_files_raise_one_error_type_naming_file_and_cause(broken_videos, backend, name, tmp_path):
    path = broken_videos[name] if name != "folder" else tmp_path  # a folder was "no such file"
    start = time.monotonic()
    with pytest.raises(VideoDecodingError) as error:
        decode_frames(path, lambda info: np.arange(4), backend=backend)
    assert time.monotonic() - start < 5
    assert error.value.video == str(path)
    assert str(path) in str(error.value)
    expected = {"empty": "empty", "missing": "no such file", "not_a_video": "cannot open", "truncated": "cannot open",
                "folder": "a folder, not a video file"}  # fmt: skip
    assert expected[name] in error.value.reason
    if backend == "decord" and name in ("not_a_video", "truncated"):
        assert "decord" in error.value.reason and "PyAV" in error.value.reason  # both were tried


@pytest.mark.parametrize("backend", ["decord", "pyav"])
@pytest.mark.parametrize("kilobytes", [20, 800])
def test_a_cut_avi_is_a_truncated_video_not_a_shorter_one(demo_video, tmp_path, backend, kilobytes):
    """An AVI loses its index with its end, so a cut copy read as a shorter video: 1 frame (repeated into every clip)
    at 20 KB of the demo clip's 2.4 MB, 151 at 800 KB, and training used them silently."""
    path = tmp_path / f"cut_{kilobytes}kb.avi"
    path.write_bytes(demo_video.read_bytes()[: kilobytes * 1000])
    with pytest.raises(VideoDecodingError) as error:
        decode_frames(path, lambda info: np.arange(4), backend=backend)
    frames = {20: 1, 800: 151}[kilobytes]
    assert error.value.video == str(path)
    assert error.value.reason == f"the file ends after {frames} of the 301 frames its header lists (truncated?)"


def test_decord_given_the_bytes_of_a_cut_file_raises_instead_of_crashing_the_process(demo_video, tmp_path):
    """decord's reader ended the process with a segmentation fault on the bytes of a cut AVI (a shard's member)."""
    path = tmp_path / "cut.avi"
    path.write_bytes(demo_video.read_bytes()[:800_000])
    script = (
        "import sys, numpy as np\n"
        "from modeling_mae_st.video_decoding import VideoDecodingError, decode_frames\n"
        "cell = {'bytes': open(sys.argv[1], 'rb').read(), 'path': 'train/left/cut.avi'}\n"
        "try:\n"
        "    decode_frames(cell, lambda info: np.arange(4), backend='decord')\n"
        "except VideoDecodingError as error:\n"
        "    print(error)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == (
        "Cannot decode video train/left/cut.avi: the file ends after 151 of the 301 frames its header lists "
        "(truncated?)"
    )


def test_a_cell_with_empty_bytes_is_an_empty_video_not_a_missing_file():
    """A shard's 0-byte member was "no such file": its path (the member's name) was tried instead."""
    with pytest.raises(VideoDecodingError) as error:
        decode_frames({"bytes": b"", "path": "train/left/clip.mp4"}, lambda info: np.arange(4))
    assert (error.value.video, error.value.reason) == ("train/left/clip.mp4", "the video is empty (0 bytes)")


def test_in_memory_bytes_and_datasets_cells_decode_like_the_file(codec_videos):
    path = codec_videos["h264_64x48.mp4"]
    indices = lambda info: np.array([1, 7, 20])  # noqa: E731
    expected, _ = decode_frames(path, indices, backend="pyav")
    for source in (path.read_bytes(), {"bytes": path.read_bytes(), "path": None}, {"bytes": None, "path": str(path)}):
        for backend in ("decord", "pyav"):
            frames, _ = decode_frames(source, indices, backend=backend)
            np.testing.assert_array_equal(frames, expected)
    with pytest.raises(VideoDecodingError, match="in-memory video of 0 bytes"):
        decode_frames(b"", indices)


@pytest.mark.parametrize("timeout_s", [0.0, 0.05])
def test_pyav_gives_up_at_its_deadline(demo_video, timeout_s):
    # Decoding all 300 frames of the demo clip takes about a second here: both limits cut it short.
    start = time.monotonic()
    with pytest.raises(VideoDecodingError, match=f"took longer than {timeout_s:g} s") as error:
        decode_frames(demo_video, lambda info: np.arange(info.num_frames), backend="pyav", timeout_s=timeout_s)
    assert time.monotonic() - start < 0.5
    assert error.value.video == str(demo_video)


def test_decoding_error_survives_pickling_across_workers():
    error = pickle.loads(pickle.dumps(VideoDecodingError("a.mp4", "no such file")))
    assert (error.video, error.reason) == ("a.mp4", "no such file")
    assert str(error) == "Cannot decode video a.mp4: no such file"


def test_backend_choice():
    assert default_backend() == "pyav"  # the faster, interruptible one; decord when asked for
    with pytest.raises(ValueError, match="'opencv'"):
        decode_frames("x.mp4", lambda info: np.arange(1), backend="opencv")


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="counts threads in /proc")
def test_pyav_reader_with_one_thread_starts_no_threads(codec_videos):
    """A DataLoader worker decodes with one thread: neither the decoder nor the RGB conversion may start more (PyAV
    17's conversion starts one thread per CPU of the machine unless told)."""
    script = (
        "import os, sys\n"
        "from modeling_mae_st.video_decoding import open_video\n"
        "before = len(os.listdir('/proc/self/task'))\n"
        "with open_video(sys.argv[1], 'pyav', num_threads=1) as reader:\n"
        "    reader.get_frames([0, 5, 9])\n"
        "    print(before, len(os.listdir('/proc/self/task')))\n"
    )
    output = subprocess.run(
        [sys.executable, "-c", script, str(codec_videos["h264_64x48.mp4"])], check=True, capture_output=True, text=True
    ).stdout.split()
    before, during = map(int, output)
    assert during == before
