"""A package served with real players: hls.js and dash.js (npm, tests/players) on one page each, driven by tests.

The page records what the player did in `window.rec` (errors, renditions listed, fragments loaded per rendition,
switches rendered, playback time); `play_all_renditions` forces a switch to every rendition in turn and plays on.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PLAYERS = Path(__file__).resolve().parents[1] / "players"
HLS_JS = PLAYERS / "node_modules" / "hls.js" / "dist" / "hls.min.js"
DASH_JS = PLAYERS / "node_modules" / "dashjs" / "dist" / "modern" / "umd" / "dash.all.min.js"

_HLS_PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted playsinline width="640"></video>
<script src="hls.min.js"></script><script>
window.rec = {errors: [], renditions: [], frags: [], switched: []};
const v = document.getElementById('v');
const player = new Hls({startLevel: 0, capLevelToPlayerSize: false});
window.player = player;
// a forced switch (currentLevel) cancels the fragment load in flight: hls.js reports that as "aborted", which
// is the switch itself, not a fault of the package
player.on(Hls.Events.ERROR, (e, d) => { if (d.details !== 'aborted' || d.fatal)
  rec.errors.push(d.type + ':' + d.details + (d.fatal ? ':fatal' : '')); });
player.on(Hls.Events.MANIFEST_PARSED, (e, d) => { rec.renditions = d.levels.map((l, i) => i); v.play(); });
player.on(Hls.Events.FRAG_LOADED, (e, d) => { if (d.frag.type === 'main') rec.frags.push(d.frag.level); });
player.on(Hls.Events.LEVEL_SWITCHED, (e, d) => rec.switched.push(d.level));
window.switchTo = (i) => { player.nextLevel = i; };
v.addEventListener('error', () => rec.errors.push('video:' + (v.error && v.error.message)));
player.loadSource('pkg/master.m3u8'); player.attachMedia(v);
</script>"""

_DASH_PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted playsinline width="640"></video>
<script src="dash.all.min.js"></script><script>
window.rec = {errors: [], renditions: [], frags: [], switched: []};
const v = document.getElementById('v');
const player = dashjs.MediaPlayer().create();
window.player = player;
player.updateSettings({streaming: {abr: {autoSwitchBitrate: {video: false}}}});
const E = dashjs.MediaPlayer.events;
player.on(E.ERROR, (e) => rec.errors.push(JSON.stringify(e.error || e)));
player.on(E.STREAM_INITIALIZED, () => {
  rec.renditions = player.getRepresentationsByType('video').map((r, i) => i);
});
player.on(E.FRAGMENT_LOADING_COMPLETED, (e) => {
  const r = e.request;
  if (r && r.mediaType === 'video' && r.type === 'MediaSegment' && r.representation) {
    rec.frags.push(player.getRepresentationsByType('video').findIndex(x => x.id === r.representation.id));
  }
});
player.on(E.QUALITY_CHANGE_RENDERED, (e) => {
  if (e.mediaType === 'video') rec.switched.push(
    player.getRepresentationsByType('video').findIndex(x => x.id === e.newRepresentation.id));
});
window.switchTo = (i) => { player.setRepresentationForTypeByIndex('video', i, true); };
player.initialize(v, 'pkg/manifest.mpd', true);
</script>"""


def require_players() -> None:
    """Skip (with the reason) where the npm players are not installed and cannot be; .ci/run installs them."""
    if HLS_JS.exists() and DASH_JS.exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed: the hls.js / dash.js players cannot be installed")
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(PLAYERS)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not (HLS_JS.exists() and DASH_JS.exists()):
        pytest.skip(f"npm install --prefix tests/players failed: {proc.stderr.strip()[-300:]}")


def make_site(package: Path, folder: Path, player: str) -> Path:
    """folder/ with index.html for `player` (hls or dash), the player's script, and the package as pkg/."""
    require_players()
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(package, folder / "pkg", dirs_exist_ok=True)
    script = HLS_JS if player == "hls" else DASH_JS
    shutil.copyfile(script, folder / script.name)
    (folder / "index.html").write_text(_HLS_PAGE if player == "hls" else _DASH_PAGE, encoding="utf-8")
    return folder


def play_all_renditions(page, url: str, *, min_play_s: float = 5.0, timeout_ms: int = 30000) -> dict:
    """Open the page, force each rendition in turn (highest first, so each is a real switch), play on until
    `min_play_s` of media has played; returns window.rec with the final currentTime."""
    page.goto(url + "/index.html")
    page.wait_for_function("window.rec && rec.renditions.length > 0 && document.getElementById('v').currentTime > 0",
                           timeout=timeout_ms)
    n = page.evaluate("rec.renditions.length")
    for i in reversed(range(n)):
        page.evaluate(f"switchTo({i})")
        page.wait_for_function(f"rec.frags.includes({i}) && rec.switched.includes({i}) || rec.errors.length > 0",
                               timeout=timeout_ms)
    page.wait_for_function(f"document.getElementById('v').currentTime >= {min_play_s} || rec.errors.length > 0",
                           timeout=timeout_ms)
    rec = page.evaluate("rec")
    rec["current_time"] = page.evaluate("document.getElementById('v').currentTime")
    return rec
