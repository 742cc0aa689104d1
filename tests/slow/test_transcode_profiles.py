"""Every shipped profile at its own speed on a real clip, fully decoded (minutes on 2 cores)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from codeckit.profiles import load_profile
from tests.media.test_transcode import check_output, codeckit


@pytest.mark.parametrize("profile", ["archive-hevc", "archive-av1", "web-h264", "mezzanine"])
def test_every_shipped_profile_at_its_own_speed_on_a_real_clip(bikes, tmp_path, profile):
    r = codeckit("transcode", bikes, "-o", tmp_path, "-p", profile, "--force-encode", "--verify", "full", "--json",
                 timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    item = json.loads(r.stdout)["items"][0]
    t = load_profile(profile)
    out = check_output(Path(item["output"]), bikes)
    assert out.video[0].codec == t.video.codec and item["result"]["verify"]["decoded_frames"] == 250
