"""The library functions that read local files only (probe, quality, search) refuse an object-storage URL at
their entry, named as written (ConfigError, code url_not_supported), before anything is read or run: as a path,
"s3://b/k.mp4" became "s3:/b/k.mp4: no such file". The CLI rests on this check (exit 2, the JSON error document:
tests/media/test_storage_missing.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from codeckit.errors import ConfigError
from codeckit.probe import probe
from codeckit.quality import measure, measure_batch, measure_many
from codeckit.search import search
from codeckit.search.per_title import recipe_for_profile

URL = "s3://b/k.mp4"
LOCAL = str(Path(__file__))      # never read: the URL is refused first


def _refused(call) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        call()
    err = info.value
    assert (err.code, err.path) == ("url_not_supported", URL), err.to_dict()
    assert "s3:/b" not in str(err).replace(URL, ""), str(err)
    return err


@pytest.mark.parametrize("call", [
    lambda: probe(URL),
    lambda: measure(URL, LOCAL),
    lambda: measure(LOCAL, URL),
    lambda: measure_batch(LOCAL, [LOCAL, URL]),
    lambda: measure_many(LOCAL, [URL]),
    lambda: search(URL, 90),
    lambda: recipe_for_profile(URL, "web-h264"),
], ids=["probe", "measure-ref", "measure-dist", "measure_batch", "measure_many", "search", "search-profile"])
def test_a_url_is_refused_at_the_library_entry(call):
    _refused(call)
