"""A video file's size, frame rate and duration from its container's headers, decoding nothing: for weighing work
(normalize's queue), not for planning (codeckit.probe reads what a plan needs)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .ffmpeg import check_local_input
from .probe import _frac, primary_video_stream
from .sources import open_media


@dataclass
class VideoPeek:
    """A file's primary video as its container's headers give it, for weighing work (not for planning)."""
    width: int
    height: int
    fps: float | None
    duration_s: float | None


#: Codec options for FFmpeg's stream probe when nothing is to be decoded (given for this many streams).
_DECODE_NOTHING = [{"skip_frame": "all"}] * 32


def peek_video(path: str | Path) -> VideoPeek | None:
    """The primary video's size, frame rate and duration, with nothing decoded: FFmpeg's stream probe is told to
    skip every frame (1.5 ms for the bench's 1080p25 H.264 file; the open that decodes its first IDR costs 23 ms,
    and normalize's worker opens it again to probe and scan). The pixel format and the start time may be missing:
    they come from decoding. None when the file does not open or has no video."""
    import av

    from .errors import CodeckitError

    try:
        with open_media(check_local_input(path), stream_options=_DECODE_NOTHING) as c:
            s = primary_video_stream(c)
            if s is None:
                return None
            rate = _frac(s.average_rate) or _frac(s.base_rate)
            duration = float(s.duration * s.time_base) if s.duration and s.time_base else \
                (c.duration / 1e6 if c.duration else None)
            w, h = s.codec_context.width, s.codec_context.height
            return VideoPeek(w, h, float(rate) if rate else None, duration) if w and h else None
    except (CodeckitError, av.error.FFmpegError, OSError, ValueError):
        return None
