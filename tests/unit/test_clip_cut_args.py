"""cut_args: the exact FFmpeg options that cut a clip, and the frame count the source really holds."""
from fractions import Fraction
from types import SimpleNamespace

from codeckit.normalize.encode_clip import cut_args
from codeckit.normalize.steps import ClipSpan


def _scan(fps: float, seconds: float, gop: int):
    times = [i / fps for i in range(round(seconds * fps))]
    return SimpleNamespace(frame_times=times, keyframe_times=times[::gop], end_s=seconds)


MP4 = SimpleNamespace(container="mov,mp4,m4a,3gp,3g2,mj2")
TS = SimpleNamespace(container="mpegts")


def test_clip_on_both_grids_is_a_plain_input_seek():
    args = cut_args(MP4, _scan(24, 6, 24), ClipSpan(1, 2.0, 4.0), Fraction(24))
    assert args == (["-ss", "2.000000", "-t", "2.000000"], ["-frames:v", "48"], 48)


def test_mpegts_is_pre_rolled_past_the_keyframe_before_the_start():
    # keyframes every 12 frames at 25 fps: 3.84 is the last before 4.0; seek half a second before it
    inp, out, frames = cut_args(TS, _scan(25, 6, 12), ClipSpan(1, 4.0, 6.0), Fraction(24))
    assert inp == ["-ss", "3.333333", "-t", "2.666667"]
    assert out == ["-ss", "0.645833", "-frames:v", "48"] and frames == 48     # (16 - 0.5) / 24


def test_start_between_source_frames_is_pre_rolled_one_output_frame_and_the_tail_counts_what_is_there():
    # 53/24 s lies between the 25 fps frames at 2.20 and 2.24; the source ends at 3.0
    inp, out, frames = cut_args(MP4, _scan(25, 3, 25), ClipSpan(2, round(53 / 24, 6), 3.0), Fraction(24))
    assert inp == ["-ss", "2.166666", "-t", "0.833334"]
    assert out == ["-ss", "0.020833", "-frames:v", "19"] and frames == 19


def test_a_clip_past_the_source_end_expects_only_the_frames_the_source_covers():
    # the scan saw the video end at 2.9 s though the clip was planned to 3.0 s
    s = _scan(24, 3, 24)
    s.end_s = 2.9
    assert cut_args(MP4, s, ClipSpan(1, 2.0, 3.0), Fraction(24))[2] == 22   # round(0.9 x 24 = 21.6)


def test_pre_roll_before_the_source_start_drops_the_input_seek():
    inp, out, _ = cut_args(TS, _scan(25, 4, 12), ClipSpan(1, 0.5, 2.5), Fraction(24))
    assert inp == ["-t", "2.500000"] and out[:2] == ["-ss", "0.479167"]
