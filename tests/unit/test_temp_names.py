"""One rule for codeckit's temporary names (fileio.is_temp_name), held to the names each scheme's own function
produces: encode's output temp, fileio's atomic-write temp, the package's hidden folders, storage's upload key.
Its callers (encode.is_temp_name, storage.is_temp_key, sources.remove_stale_temps, the staged mirror's
is_temp_path) say the same."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from codeckit import encode, fileio, storage
from codeckit.journal import JOURNAL_NAME
from codeckit.object_journal import STATE_PREFIX
from codeckit.package import pipeline
from codeckit.sources import remove_stale_temps


def _atomic_temp_name(folder: Path, name: str) -> str:
    with fileio.atomic_path(folder / name) as tmp:
        seen = tmp.name
        tmp.write_text("x")
    return seen


def _package_old_name(folder: Path, monkeypatch) -> str:
    """The name an older package is moved aside under while the new one takes its place (_move_into_place)."""
    removed: list[str] = []
    real_rmtree = shutil.rmtree
    monkeypatch.setattr(shutil, "rmtree", lambda p, **kw: (removed.append(Path(p).name), real_rmtree(p, **kw)))
    final = folder / "talk"
    final.mkdir()
    new = pipeline.temp_dir_for(final)
    new.mkdir()
    pipeline._move_into_place(new, final)
    monkeypatch.undo()
    assert len(set(removed)) == 1 and final.is_dir() and not new.exists()
    return removed[0]


@pytest.fixture
def temp_names(tmp_path, monkeypatch) -> dict[str, str]:
    """One real name per scheme, from the function that makes it."""
    return {
        "atomic write": _atomic_temp_name(tmp_path, "report.json"),
        "atomic write, no extension": _atomic_temp_name(tmp_path, "MANIFEST"),
        "atomic write, hidden file": _atomic_temp_name(tmp_path, JOURNAL_NAME),
        "encode": encode.temp_path_for(tmp_path / "clip.mp4").name,
        "encode, no extension": encode.temp_path_for(tmp_path / "clip").name,
        "package folder": pipeline.temp_dir_for(tmp_path / "talk").name,
        "package, old one moved aside": _package_old_name(tmp_path, monkeypatch),
        "upload key": storage.name_of(storage.temp_key("s3://b/out/report.json")),
    }


FINISHED = ["report.json", "clip.mp4", "MANIFEST", JOURNAL_NAME, STATE_PREFIX, "lock.json", "master.m3u8",
            "a.tmp", ".notes.tmp", ".hidden.mp4", ".x.1234.tmp", "x.codeckit-tmp.mp4", "report.json.1-abcdef01.tmp"]


def test_every_scheme_s_real_names_are_temporary_and_finished_names_are_not(temp_names):
    assert len(set(temp_names.values())) == len(temp_names)
    for scheme, name in temp_names.items():
        assert fileio.is_temp_name(name), (scheme, name)
    for name in FINISHED:
        assert not fileio.is_temp_name(name), name


def test_encode_storage_and_paths_say_what_the_one_rule_says(temp_names):
    for name in [*temp_names.values(), *FINISHED]:
        expected = fileio.is_temp_name(name)
        assert encode.is_temp_name(name) == expected, name
        assert storage.is_temp_key(f"s3://b/out/{name}") == expected, name
        assert fileio.is_temp_path(f"out/{name}") == expected, name
    inside = (Path(temp_names["package folder"]) / "pkg" / "master.m3u8").as_posix()
    assert fileio.is_temp_path(inside) and not fileio.is_temp_path("talk/pkg/master.m3u8")


def test_stale_temps_of_a_killed_run_are_removed_finished_and_foreign_files_kept(tmp_path):
    # an atomic write caught by kill -9: its temporary file stays (the except clause never runs)
    caught = fileio.atomic_path(tmp_path / "sub" / "report.json")
    left = caught.__enter__()
    left.write_text('{"half": ')
    encoding = encode.temp_path_for(tmp_path / "sub" / "clip.mp4")
    encoding.write_bytes(b"\0")
    keep = ["sub/clip0.mp4", JOURNAL_NAME, "sub/.notes.tmp", "sub/a.tmp"]
    for name in keep:
        (tmp_path / name).write_text("finished")
    removed = remove_stale_temps(tmp_path)
    assert sorted(removed) == sorted([str(left), str(encoding)])
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == sorted(keep)
