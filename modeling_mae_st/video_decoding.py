"""
Video decoding for MAE-ST: read only the frames a clip needs, with decord or PyAV.

The official loader (facebookresearch/mae_st `util/decoder/`) decodes with torchvision's video reader; transformers'
own video loading goes through torchcodec. Neither loads on a machine without system FFmpeg libraries, while decord
and PyAV ship their own, so MAE-ST decodes with its own code:

- PyAV is the default; decord when asked (`backend="decord"`). Both return the same frames for the same indices:
  frame `i` is the `i`-th frame in presentation order. PyAV is the default because it was faster here (1.3-4x the
  training clips per second of decord, `benchmarks/README.md`), skips frames no clip needs, stops at a deadline, and
  is maintained (decord's last release is from 2021).
- Frame counts come from the container index (decord's index, PyAV's demuxed packets), not from the header, which can
  disagree with what the decoders deliver (the official demo clip's header says 301 frames; both decoders give 300).
  Indices past the last frame are clamped to it, so counts that differ between decoders never fail a read.
- Any failure raises [`VideoDecodingError`], which names the file and the cause. When decord fails on a file, PyAV is
  tried before giving up.
- PyAV decoding stops at a deadline (`timeout_s`) and never decodes past the last frame it needs. decord's reads are
  single C calls that cannot be interrupted; the DataLoader's `timeout` is the guard for those.
"""

from __future__ import annotations

import bisect
import io
import os
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter


BACKENDS = ("decord", "pyav")
_PYAV_REFORMAT_HAS_THREADS = int(av.__version__.split(".")[0]) >= 17
DEFAULT_TIMEOUT_S = 60.0

# A video given as a file path, the encoded file's bytes, or a `datasets` video cell ({"path": ..., "bytes": ...}).
VideoSource = str | os.PathLike | bytes | Mapping


class VideoDecodingError(RuntimeError):
    """
    A video could not be read. `video` names the file (or says how many bytes an in-memory video had) and `reason`
    says why; both are in the message.
    """

    def __init__(self, video: str, reason: str):
        self.video = video
        self.reason = reason
        super().__init__(f"Cannot decode video {video}: {reason}")

    def __reduce__(self):
        # Keeps the two fields when the error crosses a DataLoader worker boundary.
        return (type(self), (self.video, self.reason))


@dataclass(frozen=True)
class VideoInfo:
    """
    What a decoder reports about a video before decoding it.

    Attributes:
        num_frames: frames the decoder can deliver (from the container index, not the header).
        fps: frames per second of the video stream.
        backend: the decoder that reported it, `"decord"` or `"pyav"`.
    """

    num_frames: int
    fps: float
    backend: str


def default_backend() -> str:
    """`"pyav"` (see the module's docstring); decord is used when asked for by name."""
    return "pyav"


def video_name(source: VideoSource) -> str:
    """A name for `source` to use in messages: its path, or its size for an in-memory video."""
    if isinstance(source, Mapping):
        if source.get("path"):
            return str(source["path"])
        source = source.get("bytes") or b""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<in-memory video of {len(source)} bytes>"
    return str(source)


def check_source(source: VideoSource) -> None:
    """
    Raise [`VideoDecodingError`] for a source that no decoder could read: a missing file, an empty file or empty
    bytes, a `datasets` video cell with neither bytes nor path.
    """
    if isinstance(source, Mapping):
        if source.get("bytes"):
            return
        if source.get("bytes") is not None:  # the cell holds the video's bytes, and there are none (a shard's empty
            # member was "no such file", its path being the member's name)
            raise VideoDecodingError(video_name(source), "the video is empty (0 bytes)")
        if not source.get("path"):
            raise VideoDecodingError(video_name(source), "the video cell has neither `bytes` nor `path`")
        source = source["path"]
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise VideoDecodingError(video_name(source), "the video is empty (0 bytes)")
        return
    path = Path(source)
    if path.is_dir():
        raise VideoDecodingError(str(source), "a folder, not a video file")
    if not path.is_file():
        raise VideoDecodingError(str(source), "no such file")
    if path.stat().st_size == 0:
        raise VideoDecodingError(str(source), "the file is empty (0 bytes)")


def _file_or_buffer(source: VideoSource) -> str | io.BytesIO:
    """`source` as what decoders open: a path, or an in-memory buffer for encoded bytes."""
    check_source(source)
    if isinstance(source, Mapping):
        source = source["bytes"] or source["path"]
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    return str(source)


# A file holding fewer than this share of the frames its header lists ends early: it was cut (a copy or a download
# stopped). Containers that keep no frame count (Matroska, WebM, MPEG-TS) are not judged.
MIN_SHARE_OF_LISTED_FRAMES = 0.95


def check_not_cut_short(name: str, num_frames: int, listed_frames: int) -> None:
    """
    Raise [`VideoDecodingError`] when a video's readable frames, `num_frames`, fall short of the `listed_frames` its
    container's header lists (0: the container keeps no count; then nothing is judged). A cut AVI (its index lost
    with its end) reads as a shorter video: 1 frame of the demo clip's 301 once cut to 20 KB, which a clip sampler
    repeats 16 times. The demo clip itself lists 301 and holds 300.
    """
    if listed_frames > 0 and num_frames < MIN_SHARE_OF_LISTED_FRAMES * listed_frames:
        raise VideoDecodingError(
            name, f"the file ends after {num_frames} of the {listed_frames} frames its header lists (truncated?)"
        )


def listed_frame_count(path: str) -> int:
    """The frame count the container's header lists for its first video stream (0 when it keeps none, or cannot be
    read: the decoder says why)."""
    try:
        with av.open(path) as container:
            return container.streams.video[0].frames if container.streams.video else 0
    except av.FFmpegError:
        return 0


class VideoReader:
    """
    An open video that returns frames by index. Use [`open_video`] to make one; close it (or use `with`) when done.

    Attributes:
        name: the file (or in-memory size) for messages.
        info: [`VideoInfo`] with the frame count and fps.
    """

    name: str
    info: VideoInfo

    def get_frames(self, indices: np.ndarray) -> np.ndarray:
        """
        Decode the frames at `indices`, decoding each distinct frame once.

        Args:
            indices: integer array of any shape; values past the last frame are clamped to it, negative values to 0.

        Returns:
            `np.ndarray` of uint8 RGB frames, shape `indices.shape + (height, width, 3)`.

        Raises:
            VideoDecodingError: the frames could not be decoded.
        """
        frames, inverse = self.get_distinct_frames(indices)
        return frames[inverse]

    def get_distinct_frames(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """
        Decode each distinct frame of `indices` once, in one pass through the file, and say where each index's frame
        is: `frames[inverse]` are the frames at `indices`. Clips that share frames (overlapping windows) are then
        resized and cropped from one copy.

        Args:
            indices: integer array of any shape; values past the last frame are clamped to it, negative values to 0.

        Returns:
            `(frames, inverse)`: uint8 RGB frames `(num_distinct, height, width, 3)` in increasing frame order, and
            int64 positions into them of shape `indices.shape`.

        Raises:
            VideoDecodingError: the frames could not be decoded.
        """
        indices = np.clip(np.asarray(indices, dtype=np.int64), 0, self.info.num_frames - 1)
        unique, inverse = np.unique(indices, return_inverse=True)
        return self._decode_sorted(unique), inverse.reshape(indices.shape)

    def _decode_sorted(self, indices: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close(self) -> None:
        """Release the decoder."""

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class DecordVideoReader(VideoReader):
    """[`VideoReader`] backed by decord, which seeks to the keyframe before each frame it needs."""

    def __init__(self, source: VideoSource, num_threads: int = 1):
        import decord

        self.name = video_name(source)
        self._errors = (RuntimeError, decord.DECORDError)
        file_or_buffer = _file_or_buffer(source)
        listed_frames = 0  # what the header lists: decord does not tell it
        if isinstance(file_or_buffer, io.BytesIO):
            # decord crashes the process (a segmentation fault, even at 800 KB of the demo clip's 2.4 MB) on the bytes
            # of a cut file: PyAV reads the container first (its header's count included) and names what is wrong
            PyAVVideoReader(source).close()
        else:
            listed_frames = listed_frame_count(file_or_buffer)
        try:
            self._reader = decord.VideoReader(file_or_buffer, ctx=decord.cpu(0), num_threads=num_threads)
            num_frames, fps = len(self._reader), float(self._reader.get_avg_fps())
        except self._errors as err:
            raise VideoDecodingError(self.name, f"decord cannot open it ({_first_line(err)})") from err
        if num_frames <= 0:
            raise VideoDecodingError(self.name, "decord finds no video frames")
        if not fps > 0:
            raise VideoDecodingError(self.name, f"decord reports no frame rate (fps={fps})")
        check_not_cut_short(self.name, num_frames, listed_frames)
        self.info = VideoInfo(num_frames=num_frames, fps=fps, backend="decord")

    def _decode_sorted(self, indices: np.ndarray) -> np.ndarray:
        try:
            return self._reader.get_batch(indices.tolist()).asnumpy()
        except self._errors as err:
            raise VideoDecodingError(
                self.name, f"decord failed reading frames {indices.tolist()} ({_first_line(err)})"
            ) from err

    def close(self) -> None:
        del self._reader


class PyAVVideoReader(VideoReader):
    """
    [`VideoReader`] backed by PyAV.

    Opening demuxes the stream's packets (no decoding) to index the frames by presentation timestamp, as decord
    does; reading seeks to the keyframe before each needed frame unless that frame is ahead in the current run, and
    converts only the needed frames to RGB. Streams without packet timestamps are decoded from the start, counting
    frames.
    """

    def __init__(self, source: VideoSource, num_threads: int = 1, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.name = video_name(source)
        self._timeout_s = timeout_s
        file_or_buffer = _file_or_buffer(source)
        try:
            self._container = av.open(file_or_buffer, timeout=timeout_s)
        except av.ExitError as err:  # FFmpeg's own I/O timeout
            raise VideoDecodingError(self.name, f"opening took longer than {timeout_s:g} s") from err
        except av.FFmpegError as err:
            raise VideoDecodingError(self.name, f"PyAV cannot open it ({_first_line(err)})") from err
        if not self._container.streams.video:
            self.close()
            raise VideoDecodingError(self.name, "the file has no video stream")
        self._stream = self._container.streams.video[0]
        self._reformatter = VideoReformatter()  # keeps FFmpeg's YUV -> RGB context from frame to frame
        # PyAV >= 17 converts to RGB with one thread per CPU of the machine unless told otherwise: 16 threads in each
        # DataLoader worker of a 16-core machine, and slower than one thread even on 2 cores (0.22 against 0.09 ms
        # per 568x320 frame here).
        self._reformat_threads = {"threads": num_threads} if _PYAV_REFORMAT_HAS_THREADS else {}
        self._stream.thread_count = num_threads
        if num_threads > 1:
            self._stream.thread_type = "AUTO"
        try:
            self._frame_pts, self._keyframe_pts = self._index_packets()
        except av.FFmpegError as err:
            self.close()
            raise VideoDecodingError(self.name, f"PyAV cannot read its packets ({_first_line(err)})") from err
        except VideoDecodingError:
            self.close()
            raise
        if not self._frame_pts:
            self.close()
            raise VideoDecodingError(self.name, "PyAV finds no video frames")
        try:
            check_not_cut_short(self.name, len(self._frame_pts), self._stream.frames)
        except VideoDecodingError:
            self.close()
            raise
        self.info = VideoInfo(num_frames=len(self._frame_pts), fps=self._frame_rate(), backend="pyav")

    def _index_packets(self) -> tuple[list[int | None], list[int]]:
        """Presentation timestamps of the frames (sorted) and of the keyframes; all `None` without timestamps."""
        frame_pts, keyframe_pts = [], []
        deadline = time.monotonic() + self._timeout_s
        for packet in self._container.demux(self._stream):
            if packet.size == 0:  # flush packets and dropped-frame placeholders carry no picture
                continue
            frame_pts.append(packet.pts)
            if packet.is_keyframe and packet.pts is not None:
                keyframe_pts.append(packet.pts)
            self._check_deadline(deadline)
        if any(pts is None for pts in frame_pts):
            return [None] * len(frame_pts), []
        return sorted(frame_pts), sorted(keyframe_pts)

    def _frame_rate(self) -> float:
        rate = self._stream.average_rate or self._stream.guessed_rate
        if rate:
            return float(rate)
        known = [pts for pts in self._frame_pts if pts is not None]
        if len(known) > 1 and self._stream.time_base and known[-1] > known[0]:
            return (len(known) - 1) / float((known[-1] - known[0]) * self._stream.time_base)
        raise VideoDecodingError(self.name, "the container gives no frame rate and no timestamps to infer one")

    def _check_deadline(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise VideoDecodingError(self.name, f"decoding took longer than {self._timeout_s:g} s (broken file?)")

    def _decode_sorted(self, indices: np.ndarray) -> np.ndarray:
        deadline = time.monotonic() + self._timeout_s
        try:
            if self._frame_pts[0] is None or not self._keyframe_pts:
                frames = self._decode_counting(indices, deadline)
            else:
                frames = self._decode_seeking(indices, deadline)
                if len(frames) < len(indices):  # a seek landed past a frame: decode from the start instead
                    frames = self._decode_counting(indices, deadline)
        except av.ExitError as err:
            raise VideoDecodingError(self.name, f"decoding took longer than {self._timeout_s:g} s") from err
        except av.FFmpegError as err:
            raise VideoDecodingError(
                self.name, f"PyAV failed decoding frames up to {int(indices[-1])} ({_first_line(err)})"
            ) from err
        missing = [int(index) for index in indices if int(index) not in frames]
        if missing:
            raise VideoDecodingError(self.name, f"frames {missing} could not be decoded (truncated or corrupt file?)")
        return np.stack([frames[int(index)] for index in indices])

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        rgb = self._reformatter.reformat(frame, format="rgb24", **self._reformat_threads)
        return rgb.to_ndarray()  # (height, width, 3) uint8

    def _decode_seeking(self, indices: np.ndarray, deadline: float) -> dict[int, np.ndarray]:
        """Decode by timestamp: seek only when the next needed frame lies beyond a keyframe not yet reached."""
        wanted = {self._frame_pts[index]: int(index) for index in indices}
        frames: dict[int, np.ndarray] = {}
        decoded = None  # iterator over decoded frames since the last seek
        position = None  # pts of the last decoded frame
        for target in sorted(wanted):
            if wanted[target] in frames:
                continue
            keyframe = self._keyframe_pts[max(bisect.bisect_right(self._keyframe_pts, target) - 1, 0)]
            if decoded is None or position is None or keyframe > position:
                self._container.seek(keyframe, stream=self._stream, backward=True, any_frame=False)
                decoded = self._decode_packets(wanted)
            for frame in decoded:
                self._check_deadline(deadline)
                position = frame.pts
                if position in wanted:
                    frames[wanted[position]] = self._to_rgb(frame)
                if position is None or position >= target:
                    break
        return frames

    def _decode_packets(self, wanted_pts: Collection[int]) -> Iterator[av.VideoFrame]:
        """
        Decode from the current position, skipping the frames that are not wanted and that no other frame refers to
        (non-reference B-frames: about 40% of the frames of an x264 encode), which the decoder then never decodes.
        """
        codec = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            # Set per packet: the decoder reads it when it parses the packet's frame.
            codec.skip_frame = "DEFAULT" if packet.pts is None or packet.pts in wanted_pts else "NONREF"
            yield from packet.decode()
        codec.skip_frame = "DEFAULT"

    def _decode_counting(self, indices: np.ndarray, deadline: float) -> dict[int, np.ndarray]:
        """Decode from the start, numbering frames in decoding order (for streams without timestamps)."""
        wanted = {int(index) for index in indices}
        last = max(wanted)
        frames: dict[int, np.ndarray] = {}
        self._stream.codec_context.skip_frame = "DEFAULT"  # every frame counts here
        self._container.seek(0)
        for number, frame in enumerate(self._container.decode(self._stream)):
            self._check_deadline(deadline)
            if number in wanted:
                frames[number] = self._to_rgb(frame)
            if number >= last:
                break
        return frames

    def close(self) -> None:
        self._container.close()


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def open_video(
    source: VideoSource,
    backend: str | None = None,
    num_threads: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> VideoReader:
    """
    Open a video for reading frames by index (no fallback between backends; see [`decode_frames`] for that).

    Args:
        source: file path, encoded bytes, or a `datasets` video cell (`{"path": ..., "bytes": ...}`).
        backend: `"decord"`, `"pyav"`, or `None` for [`default_backend`].
        num_threads: decoder threads (1 suits DataLoader workers, which already run in parallel).
        timeout_s: PyAV gives up decoding after this many seconds.

    Raises:
        VideoDecodingError: the video cannot be opened or has no frames.
        ValueError: unknown `backend`.
    """
    backend = backend or default_backend()
    if backend == "decord":
        return DecordVideoReader(source, num_threads=num_threads)
    if backend == "pyav":
        return PyAVVideoReader(source, num_threads=num_threads, timeout_s=timeout_s)
    raise ValueError(f"Unknown video decoding backend {backend!r}; expected one of {BACKENDS} or None.")


def decode_distinct_frames(
    source: VideoSource,
    sample_indices: Callable[[VideoInfo], np.ndarray],
    backend: str | None = None,
    num_threads: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[np.ndarray, np.ndarray, VideoInfo]:
    """
    Decode, once each, the distinct frames that `sample_indices` asks for, falling back from decord to PyAV.

    The indices are computed from the frame count and fps of the decoder that reads the video, so a fallback calls
    `sample_indices` again with PyAV's numbers: a `sample_indices` that draws at random must draw the same numbers
    on each call (restore its generator first), or the same seed would give another clip after a fallback.

    Args:
        source: file path, encoded bytes, or a `datasets` video cell.
        sample_indices: maps the video's [`VideoInfo`] to an integer array of frame indices (any shape).
        backend: `"decord"` (falls back to PyAV on failure), `"pyav"` (PyAV only), or `None` for the default.
        num_threads: decoder threads.
        timeout_s: PyAV gives up decoding after this many seconds.

    Returns:
        `(frames, inverse, info)`: the distinct uint8 RGB frames `(num_distinct, height, width, 3)`, positions into
        them of the indices' shape (see [`VideoReader.get_distinct_frames`]), and the [`VideoInfo`] of the decoder
        that read them.

    Raises:
        VideoDecodingError: no backend could decode the video; the message gives each backend's reason.
    """
    backend = backend or default_backend()
    if backend not in BACKENDS:
        raise ValueError(f"Unknown video decoding backend {backend!r}; expected one of {BACKENDS} or None.")
    check_source(source)
    reasons = []
    for attempt in ["decord", "pyav"] if backend == "decord" else ["pyav"]:
        try:
            with open_video(source, attempt, num_threads=num_threads, timeout_s=timeout_s) as reader:
                return *reader.get_distinct_frames(sample_indices(reader.info)), reader.info
        except VideoDecodingError as err:
            if err.reason not in reasons:  # (a header's frame count, say, is both decoders' reason)
                reasons.append(err.reason)
    raise VideoDecodingError(video_name(source), "; ".join(reasons))


def decode_frames(
    source: VideoSource,
    sample_indices: Callable[[VideoInfo], np.ndarray],
    backend: str | None = None,
    num_threads: int = 1,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> tuple[np.ndarray, VideoInfo]:
    """
    [`decode_distinct_frames`], returning the frames at the indices: uint8 RGB of shape
    `indices.shape + (height, width, 3)`, and the [`VideoInfo`] of the decoder that read them.
    """
    frames, inverse, info = decode_distinct_frames(source, sample_indices, backend, num_threads, timeout_s)
    return frames[inverse], info


def read_video_info(source: VideoSource, backend: str | None = None) -> VideoInfo:
    """
    Frame count and fps of a video, without decoding frames.

    Raises:
        VideoDecodingError: the video cannot be opened or has no frames.
    """
    with open_video(source, backend) as reader:
        return reader.info


__all__ = [
    "BACKENDS",
    "DecordVideoReader",
    "PyAVVideoReader",
    "VideoDecodingError",
    "VideoInfo",
    "VideoReader",
    "VideoSource",
    "check_source",
    "decode_distinct_frames",
    "decode_frames",
    "default_backend",
    "open_video",
    "read_video_info",
    "video_name",
]
