"""Shaka Packager's stream descriptors: what a source's metadata may put in them (pure functions, exact argv),
and the package options' own checks."""
from __future__ import annotations

from pathlib import Path

import pytest

from codeckit.errors import ConfigError
from codeckit.package import PackageOptions
from codeckit.package.packager import packager_args, packager_language
from codeckit.package.renditions import RenditionJob


@pytest.mark.parametrize("tag, expected", [
    ("eng", "eng"), ("fre", "fre"), ("qaa", "qaa"), ("en", "en"), ("en-US", "en-US"), ("pt-BR", "pt-BR"),
    # Shaka stops the whole run on these ("Unknown/invalid language specified"): FFmpeg writes "und" on
    # every MP4 track without a language, so a mov_text subtitle failed the package
    ("und", None), ("zz", None), ("english", None), ("", None), (None, None), ("x-klingon", None),
    # a comma or an equals sign would split the descriptor itself
    ("en,stream=video", None), ("e=g", None),
])
def test_packager_language_keeps_only_tags_shaka_accepts(tag, expected):
    assert packager_language(tag) == expected


def _job(language):
    return RenditionJob(source="s.mp4", renditions=[], audio=None, subtitles=Path("w/subtitles.vtt"),
                        subtitle_language=language, keyint=50, fps=25.0, segment_s=2.0, duration_s=2.0,
                        filter_graph="")


def test_an_undetermined_subtitle_language_is_left_out_of_the_descriptor():
    text = packager_args(_job("und"), "enc", "pkg", ("hls",))[0]
    assert text == ("in=enc/subtitles.vtt,stream=text,segment_template=pkg/text/$Number$.vtt,"
                    "playlist_name=text.m3u8,hls_group_id=subtitles,hls_name=subtitles")
    text = packager_args(_job("eng"), "enc", "pkg", ("hls",))[0]
    assert text.endswith(",hls_name=eng,language=eng")


@pytest.mark.parametrize("value", [float("inf"), float("nan"), 0, -1])
def test_package_options_refuse_a_segment_length_that_is_not_a_finite_positive_number(value):
    # inf passed the check and each source then failed with "unexpected error: OverflowError"
    with pytest.raises(ConfigError, match="segment_s"):
        PackageOptions(segment_s=value)


def test_check_with_sources_is_a_usage_error_not_a_silently_skipped_folder(tmp_path):
    # `--check A B` checked A and dropped B (taken as a SOURCE) without a word, exit 0
    from click.testing import CliRunner
    from codeckit.cli import _register, cli
    _register("package")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    res = CliRunner().invoke(cli, ["package", "--check", str(tmp_path / "a"), str(tmp_path / "b")])
    assert res.exit_code == 2 and "--check" in res.output
