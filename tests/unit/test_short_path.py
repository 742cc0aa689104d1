"""How the CLI shows a source or output path: a URL stays a URL (os.path.relpath made s3://src/in/ into
"s3:/src/in", a path relative to the current folder that does not exist)."""
import os

from codeckit.cli.common import short_path


def test_a_url_is_shown_as_given():
    assert short_path("s3://src/empty/") == "s3://src/empty/"
    assert short_path("gs://b/a [red].mp4") == "gs://b/a \\[red].mp4"      # escaped for rich, as paths are


def test_a_path_under_the_current_folder_is_shown_relative():
    assert short_path(os.path.join(os.getcwd(), "a", "b.mp4")) == os.path.join("a", "b.mp4")
    assert short_path(None) == "-"
