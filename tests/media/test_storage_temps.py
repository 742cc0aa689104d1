"""A staged run's mirror (an s3:// output worked on in a local scratch folder, uploaded every SYNC_S seconds)
uploads only finished files: a round that catches a write mid-way, under any of codeckit's temporary names,
leaves no object for it in the bucket (real SeaweedFS server, real staged_run, real mirror rounds)."""
from __future__ import annotations

import time
from pathlib import Path

from codeckit import staged
from codeckit.encode import temp_path_for
from codeckit.fileio import atomic_path
from codeckit.package.pipeline import temp_dir_for
from codeckit.storage import Storage


def _keys(s3, prefix: str) -> set[str]:
    return {k[len(prefix) + 1:] for k in s3.fs().find(prefix)}


def _wait_for(s3, key: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not s3.fs().exists(key):
        assert time.monotonic() < deadline, f"no mirror round uploaded {key}"
        time.sleep(0.05)


def test_a_mirror_round_that_catches_writes_mid_way_uploads_no_temporary_object(s3, monkeypatch):
    # the defect: fileio's atomic temporary name (.NAME.PID-HEX.tmp, no "codeckit" in it) passed the mirror's
    # filter, so a round during an atomic write (report.json, package.json, a manifest) left a hidden object
    monkeypatch.setattr(staged, "SYNC_S", 0.05)
    bucket = s3.bucket("mirrortemps")
    with staged.staged_run([], f"{bucket}/out", Storage()) as (_sources, local_out):
        out = Path(local_out)
        with atomic_path(out / "report.json") as tmp:
            tmp.write_text('{"half": ')
            encoding = temp_path_for(out / "clips" / "a.mp4")           # encode's, FFmpeg writing
            encoding.parent.mkdir()
            encoding.write_bytes(b"\0" * 100)
            packaging = temp_dir_for(out / "talk")                      # a package's folder being filled
            (packaging / "pkg").mkdir(parents=True)
            (packaging / "pkg" / "master.m3u8").write_text("#EXTM3U\n")
            # created after the temporary files: a round that uploaded it listed them too
            (out / "marker.txt").write_text("after the temporary files")
            _wait_for(s3, "mirrortemps/out/marker.txt")
            tmp.write_text('{"half": false}\n')
        encoding.unlink()      # the package folder stays, as a killed packager's would (skipped at the end too)
    keys = _keys(s3, "mirrortemps/out")
    assert keys == {"report.json", "marker.txt"}, keys
    assert s3.fs().cat_file("mirrortemps/out/report.json") == b'{"half": false}\n'


def test_a_hidden_temporary_object_an_earlier_mirror_left_is_removed_by_the_next_staged_run(s3, tmp_path):
    # buckets dirtied before the fix: the next run into the prefix (holding its lock) removes the litter, and
    # never downloads it into the run's folder
    bucket = s3.bucket("mirrorlitter")
    with atomic_path(tmp_path / "report.json") as tmp:       # the name an atomic write really uses
        tmp.write_text('{"half": ')
        s3.fs().put_file(str(tmp), f"mirrorlitter/out/{tmp.name}")
        litter = tmp.name
    s3.fs().pipe_file("mirrorlitter/out/report.json", b"{}\n")
    with staged.staged_run([], f"{bucket}/out", Storage()) as (_sources, local_out):
        here = {p.relative_to(local_out).as_posix() for p in Path(local_out).rglob("*") if p.is_file()}
        assert "report.json" in here and litter not in here, here
    assert litter.startswith(".report.json.") and _keys(s3, "mirrorlitter/out") == {"report.json"}
