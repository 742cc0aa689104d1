"""Inputs of a batch: the walk, its named errors, stale temporary outputs, and reading media safely."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codeckit.demo_media import lavfi_clip
from codeckit.sources import VIDEO_EXTENSIONS, open_media, packets, remove_stale_temps, walk_sources

#: Capabilities that let root read a folder of mode 000; dropped to see what a user would.
_DAC_CAPS = "dac_override,dac_read_search"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A 0.5 s 160x120 clip, made once."""
    return lavfi_clip(tmp_path_factory.mktemp("tiny") / "tiny.mp4", size="160x120", duration=0.5)


def _unprivileged() -> list[str]:
    """A command prefix under which a folder of mode 000 cannot be read: none for a user; for root (who reads
    anything) the capabilities that override permissions are dropped (setpriv), since the interpreter may live
    where another user cannot run it."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a folder of mode 000 stays readable")
    prefix = [setpriv, f"--inh-caps=-{_DAC_CAPS.replace(',', ',-')}",
              f"--bounding-set=-{_DAC_CAPS.replace(',', ',-')}", "--"]
    probe = subprocess.run([*prefix, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode().strip()}")
    return prefix


def _reasons(walk) -> dict[str, str]:
    return {Path(e.path).name: e.code for e in walk.errors}


# ---------------------------------------------------------------- the walk

def test_walk_takes_video_files_and_counts_the_others(tmp_path):
    d = tmp_path / "v"
    for rel in ("a.MP4", "sub/b.mkv", "sub/c.ts", ".hidden.mp4", ".a.codeckit-tmp.mp4", ".dot/d.mp4",
                "out/e.mp4", "notes.txt", "sub/cover.jpg"):
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_bytes(b"x")
    walk = walk_sources([d], exclude=[d / "out"])
    assert [s.relative.as_posix() for s in walk.sources] == ["a.MP4", "sub/b.mkv", "sub/c.ts"]
    assert walk.skipped_by_extension == 2 and walk.errors == []
    assert all(s.path.is_absolute() and s.real == s.path for s in walk.sources)
    # a file named directly is always tried, whatever its name; named twice (or inside a folder named), once
    walk = walk_sources([d / "notes.txt", d / ".hidden.mp4", d, d / "a.MP4"], exclude=[d / "out"])
    assert [s.relative.as_posix() for s in walk.sources] == ["notes.txt", ".hidden.mp4", "a.MP4", "sub/b.mkv",
                                                             "sub/c.ts"]
    assert {".ts", ".mkv", ".mp4", ".mov", ".y4m", ".ivf"} <= VIDEO_EXTENSIONS


def test_an_output_folder_that_is_a_source_folder_is_refused(tmp_path):
    # it was walked: a rerun of normalize made clips of its own clips, package packaged its packages
    from codeckit.errors import ConfigError
    d = tmp_path / "v"
    (d / "a.mp4").parent.mkdir(parents=True)
    (d / "a.mp4").write_bytes(b"x")
    with pytest.raises(ConfigError) as err:
        walk_sources([d], exclude=[tmp_path / "v" / "." ])
    assert (err.value.code, err.value.path) == ("output_is_source_folder", str(d))
    assert [s.relative.as_posix() for s in walk_sources([d / "a.mp4"], exclude=[d]).sources] == ["a.mp4"]
    for cmd in (["normalize"], ["package"], ["compare"], ["transcode", "-p", "web-h264"]):
        r = _run([], *cmd, d, "-o", d)
        assert r.returncode == 2, (cmd, r.stdout + r.stderr)
        assert f"error: {d}: is both a source folder and the output folder" in r.stderr
    assert sorted(p.name for p in d.iterdir()) == ["a.mp4"]  # nor a state folder (normalize made .codeckit)


def test_entries_that_cannot_be_read_are_named_not_raised(tmp_path):
    d = tmp_path / "v"
    d.mkdir()
    (d / "good.mp4").write_bytes(b"x")
    os.symlink("loop.mp4", d / "loop.mp4")
    os.symlink("gone.mp4", d / "dangling.mp4")
    os.mkfifo(d / "pipe.mp4")
    os.symlink("good.mp4", d / "link.mp4")
    walk = walk_sources([d, tmp_path / "missing.mp4", d / "loop.mp4", tmp_path])
    assert [s.path.name for s in walk.sources] == ["good.mp4", "link.mp4"]
    assert walk.sources[1].real == d / "good.mp4"          # links resolved; the path stays as found
    assert _reasons(walk) == {"loop.mp4": "symlink_loop", "dangling.mp4": "dangling_symlink",
                              "pipe.mp4": "not_a_file", "missing.mp4": "not_found"}
    by_name = {Path(e.path).name: e for e in walk.errors}
    assert str(by_name["loop.mp4"]) == f"{d / 'loop.mp4'}: symbolic link loop: the link never reaches a file"
    assert by_name["missing.mp4"].message == "no such file"


def test_a_folder_that_cannot_be_listed_is_named(tmp_path):
    d = tmp_path / "v"
    (d / "locked").mkdir(parents=True)
    (d / "locked" / "inner.mp4").write_bytes(b"x")
    (d / "good.mp4").write_bytes(b"x")
    prefix = _unprivileged()
    code = ("import json, sys; from codeckit.sources import walk_sources; w = walk_sources(sys.argv[1:]); "
            "print(json.dumps([[str(s.path) for s in w.sources], [[e.path, e.code] for e in w.errors]]))")
    (d / "locked").chmod(0)
    try:
        r = subprocess.run([*prefix, sys.executable, "-c", code, str(d)], capture_output=True, text=True)
    finally:
        (d / "locked").chmod(0o755)
    assert r.returncode == 0, r.stderr
    sources, errors = json.loads(r.stdout)
    assert sources == [str(d / "good.mp4")] and errors == [[str(d / "locked"), "permission_denied"]]


def test_stale_temporary_outputs_are_removed_and_listed(tmp_path):
    (tmp_path / "a" / ".b").mkdir(parents=True)
    for name in ("a/.x.codeckit-tmp.mp4", "a/.b/.y.codeckit-tmp.mkv", "a/keep.mp4", "a/.hidden.mp4"):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temps(tmp_path)
    assert sorted(Path(p).name for p in removed) == [".x.codeckit-tmp.mp4", ".y.codeckit-tmp.mkv"]
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [".hidden.mp4", "keep.mp4"]
    assert remove_stale_temps(tmp_path / "no-such-folder") == []


# ---------------------------------------------------------------- reading media

def test_packets_leave_out_the_flush_packets(tiny):
    with open_media(tiny) as c:
        every = [(p.size, p.pts) for p in c.demux(c.streams.video[0])]
    with open_media(tiny) as c:
        data = [(p.size, p.pts) for p in packets(c, c.streams.video[0])]
    assert data == [x for x in every if x[0] > 0] and len(data) == 13 and len(every) > len(data)


# ---------------------------------------------------------------- end to end: the batch goes on

@pytest.fixture()
def bad_tree(tmp_path, tiny):
    """good.mp4 beside a symlink loop, a dangling link, a folder nobody may list and a text file."""
    d = tmp_path / "in"
    (d / "locked").mkdir(parents=True)
    shutil.copy(tiny, d / "good.mp4")
    shutil.copy(tiny, d / "locked" / "inner.mp4")
    os.symlink("loop.mp4", d / "loop.mp4")
    os.symlink("gone.mp4", d / "dangling.mp4")
    (d / "notes.txt").write_text("not video")
    prefix = _unprivileged()
    (d / "locked").chmod(0)
    yield d, prefix
    (d / "locked").chmod(0o755)


def _run(prefix: list[str], *args) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "codeckit", *map(str, args)], capture_output=True,
                          text=True, timeout=180)


def test_transcode_reports_each_unreadable_entry_and_finishes(bad_tree, tmp_path):
    d, prefix = bad_tree
    out = tmp_path / "out"
    r = _run(prefix, "transcode", d, "-o", out, "-p", "web-h264", "--set", "video.speed=fastest")
    assert r.returncode == 1, r.stdout + r.stderr
    assert (out / "good.mp4").is_file() and not (out / "locked").exists()
    for name, why in (("loop.mp4", "symbolic link loop"), ("dangling.mp4", "dangling symbolic link"),
                      ("locked", "permission denied")):
        line = next(ln for ln in r.stdout.splitlines() if str(d / name) in ln)
        assert line.startswith("failed") and why in line, line
    assert "1 done, 0 skipped, 3 failed, 1 non-video file skipped" in r.stdout


def test_normalize_rejects_each_unreadable_entry_and_finishes(bad_tree, tmp_path):
    d, prefix = bad_tree
    out = tmp_path / "out"
    r = _run(prefix, "normalize", d, "-o", out, "--profile", "training-480p24", "--clips", "none",
             "--set", "filter.min_duration_s=0.2", "--json", "-j", "1")
    doc = json.loads(r.stdout)
    assert doc["clips_out"] == 1 and doc["accepted_sources"] == 1, doc
    assert doc["rejected"] == {"unreadable": 3} and doc["non_video_skipped"] == 1
    lines = (out / "rejects.jsonl").read_text().splitlines()
    rejects = {Path(x["source_path"]).name: x for x in map(json.loads, lines)}
    assert {k: v["reason"] for k, v in rejects.items()} == {n: "unreadable" for n in ("loop.mp4", "dangling.mp4",
                                                                                      "locked")}
    assert "symbolic link loop" in rejects["loop.mp4"]["message"]
    assert "dangling" in rejects["dangling.mp4"]["message"] and "permission denied" in rejects["locked"]["message"]
    assert rejects["locked"]["source_path"] == str(d / "locked")
    manifest = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert [m["source_path"] for m in manifest] == [str(d / "good.mp4")]
