"""Ladders, rung selection, the per-title hull and rung picking, capped rate control and closed GOPs: pure functions."""
from __future__ import annotations

import pytest

from codeckit.codecs import BY_NAME, capped_args, encoder_args
from codeckit.errors import ConfigError
from codeckit.package.ladder import load_ladder, select_rungs
from codeckit.package.per_title import (Point, SizeCurve, calibration_size, candidate_sizes, convex_hull,
                                        pick_at_rates)
from codeckit.package.renditions import rung_threads
from codeckit.search.model import KnobGrid
from codeckit.plan import keyint_args
from codeckit.probe import MediaInfo, VideoStreamInfo


def _info(w, h, *, sar="1:1", rotation=0, dw=None, dh=None) -> MediaInfo:
    dw, dh = dw or w, dh or h
    uw, uh = (dh, dw) if rotation in (90, 270) else (dw, dh)
    v = VideoStreamInfo(index=0, codec="h264", profile=None, width=w, height=h, sar=sar, display_width=dw,
                        display_height=dh, rotation=rotation, upright_width=uw, upright_height=uh, avg_fps=25.0,
                        nominal_fps=25.0, avg_fps_fraction="25/1", nominal_fps_fraction="25/1", vfr=False,
                        frame_count=250, frame_count_exact=True, pix_fmt="yuv420p", bit_depth=8,
                        color_primaries="bt709", color_transfer="bt709", color_space="bt709", color_range="tv",
                        hdr=None, field_order="progressive", interlaced=False, bit_rate=None, duration_s=10.0)
    return MediaInfo(path="x.mp4", size_bytes=1, container="mp4", container_long_name="", duration_s=10.0,
                     start_time_s=0.0, bit_rate=None, video=[v])


def test_apple_ladder_is_shipped_with_its_h264_table():
    ladder = load_ladder("apple")
    assert [(r.width, r.height, r.bitrate) for r in ladder.rungs][:2] == [(416, 234, 145_000), (640, 360, 365_000)]
    assert ladder.rungs[-1].bitrate == 7_800_000 and ladder.codec == "h264"
    assert load_ladder("apple").for_codec("hevc").rungs[-1].bitrate == round(7_800_000 * 0.7)


def test_unknown_ladder_names_the_shipped_ones():
    with pytest.raises(ConfigError, match="apple"):
        load_ladder("nope")


def test_rungs_never_upscale_and_follow_the_display_aspect():
    rungs = select_rungs(_info(1280, 720), load_ladder("apple"))
    assert max(r.height for r in rungs) == 720 and all(r.width * 9 == r.height * 16 for r in rungs if r.height != 234)
    # 4:3 source: the width follows the source's shape, even
    four_three = select_rungs(_info(960, 720), load_ladder("apple"))
    assert [(r.width, r.height) for r in four_three][:2] == [(312, 234), (480, 360)]


def test_anamorphic_and_rotated_sources_use_the_upright_display_size():
    ana = select_rungs(_info(720, 576, sar="64:45", dw=1024, dh=576), load_ladder("apple"))
    assert (ana[-1].width, ana[-1].height) == (960, 540)        # 16:9 on screen, the 720p rung would upscale
    assert all(r.width % 2 == 0 and r.height % 2 == 0 for r in ana)
    portrait = select_rungs(_info(1280, 720, rotation=90), load_ladder("apple"))
    assert all(r.height > r.width for r in portrait) and max(r.height for r in portrait) == 1280


def test_rung_count_keeps_top_and_bottom_and_max_height_caps():
    rungs = select_rungs(_info(1920, 1080), load_ladder("apple"), count=3)
    assert len(rungs) == 3 and rungs[0].height == 234 and rungs[-1].height == 1080
    assert max(r.height for r in select_rungs(_info(1920, 1080), load_ladder("apple"), max_height=540)) == 540


def test_tiny_source_gets_one_rung_at_its_own_size():
    rungs = select_rungs(_info(176, 144), load_ladder("apple"))
    assert [(r.width, r.height) for r in rungs] == [(176, 144)]


def test_convex_hull_across_resolutions():
    pts = [Point(416, 234, 30, 100e3, 60, 0), Point(416, 234, 24, 200e3, 70, 0), Point(640, 360, 30, 210e3, 74, 0),
           Point(640, 360, 24, 400e3, 85, 0), Point(1280, 720, 30, 420e3, 80, 0), Point(1280, 720, 24, 900e3, 92, 0),
           Point(1280, 720, 18, 2000e3, 92.5, 0)]
    hull = convex_hull(pts)
    assert Point(1280, 720, 30, 420e3, 80, 0) not in hull     # beaten by 360p at fewer bits
    assert [p.bitrate for p in hull] == sorted(p.bitrate for p in hull)


def _curve(w, h, pts):
    grid = KnobGrid.of(BY_NAME["libx264"].knob, 0, 51)
    return SizeCurve(w, h, [Point(w, h, k, r, v, 0) for k, r, v in pts], grid)


def test_rungs_are_the_best_size_at_evenly_spaced_rates():
    # 234p saturates early (upscaled); 720p wins at high rates; 360p in between
    curves = [_curve(416, 234, [(31, 80e3, 45), (21, 300e3, 60)]),
              _curve(640, 360, [(31, 150e3, 55), (21, 600e3, 78)]),
              _curve(1280, 720, [(31, 400e3, 68), (21, 1600e3, 93)])]
    rungs = pick_at_rates(curves, 100e3, 1500e3, 4)
    assert [p.height for p in rungs] == [234, 360, 360, 720]
    rates = [p.bitrate for p in rungs]
    assert rates == sorted(rates) and abs(rates[0] - 100e3) < 5e3 and abs(rates[-1] - 1500e3) < 80e3
    ratios = [b / a for a, b in zip(rates, rates[1:])]
    assert max(ratios) / min(ratios) < 1.1                    # evenly spaced in log rate
    for p in rungs:                                           # between the probes: knob on the grid, not probed
        assert 19 <= p.knob <= 33 and (p.knob * 4).is_integer()
    # a floor of VMAF 50 moves the bottom rung off 234p; rungs buying < 1 VMAF are dropped
    assert pick_at_rates(curves, 100e3, 1500e3, 4, floor=50)[0].vmaf >= 50
    assert len(pick_at_rates(curves, 100e3, 1500e3, 40)) < 40


def test_candidate_sizes_are_spaced_in_log_height_keeping_top_and_bottom():
    # four by default (was five, thinned at 1.3x: 540p too, which the 1080p bench's hull never used)
    sizes = candidate_sizes(_info(1920, 1080), max_height=None, ladder=load_ladder("apple"))
    assert [h for _, h in sizes] == [234, 360, 720, 1080]
    assert [h for _, h in candidate_sizes(_info(1280, 720), max_height=None)] == [234, 360, 540, 720]
    assert [h for _, h in candidate_sizes(_info(640, 360), max_height=None)] == [234, 360]
    thinned = candidate_sizes(_info(1920, 1080), max_height=None, step=1.3)
    assert [h for _, h in thinned] == [234, 360, 540, 720, 1080]


def test_candidate_sizes_step_and_the_calibration_size():
    info = _info(1920, 1080)
    wider = candidate_sizes(info, max_height=None, ladder=load_ladder("apple"), step=1.4)
    assert [h for _, h in wider] == [234, 432, 720, 1080]
    assert calibration_size(wider) == (768, 432)                     # the second smallest by default
    assert calibration_size(wider, 800) == (1280, 720)               # else the nearest to the height asked
    assert calibration_size(wider[:1]) == (416, 234)


def test_rung_threads_follow_pixels():
    rungs = select_rungs(_info(1920, 1080), load_ladder("apple"), count=4)
    assert rung_threads(rungs, 2) == [1, 1, 1, 1]
    assert rung_threads(rungs, 16) == [1, 2, 4, 10]


def test_capped_quality_through_the_codec_layer():
    x264 = encoder_args(BY_NAME["libx264"], quality=70).output_args
    args, _ = capped_args(BY_NAME["libx264"], x264, 2_000_000, 4_000_000)
    assert args[-4:] == ["-maxrate", "2000000", "-bufsize", "4000000"] and "-crf" in args
    aom = encoder_args(BY_NAME["libaom-av1"], quality=70).output_args
    args, note = capped_args(BY_NAME["libaom-av1"], aom, 1_000_000, 2_000_000)
    assert args[args.index("-b:v") + 1] == "1000000" and "constrained" in note
    vaapi = encoder_args(BY_NAME["h264_vaapi"], quality=70).output_args
    assert capped_args(BY_NAME["h264_vaapi"], vaapi, 1, 2)[0] == vaapi


def test_closed_gop_for_x265_and_fixed_keyframes():
    assert "open-gop=0" in " ".join(keyint_args("libx265", False, 48, ["-x265-params", "log-level=error"], [],
                                                closed_gop=True))
    assert keyint_args("libx264", False, 48, [], []) == ["-g", "48", "-keyint_min", "48", "-sc_threshold", "0"]
