"""The parts of `codeckit normalize` that need no media: rules, clip windows, sidecars, hashing, writers, profiles."""
from __future__ import annotations

import json
import tarfile

import pytest

from codeckit.errors import CodeckitError, ConfigError, FeatureMissing
from codeckit.normalize import clips as clipmod
from codeckit.normalize.hashing import HashCache, content_hash, group_duplicates
from codeckit.normalize.profile import ClipRules, clip_rules, filter_rules
from codeckit.normalize.sidecar import Annotate, clip_annotations, parse_srt, retime
from codeckit.normalize.steps import Item
from codeckit.normalize.writers import JsonlWriter, ParquetWriter, WebDatasetWriter, parse_size


def test_fixed_windows_drop_a_short_tail_and_split_long_scenes():
    r = ClipRules(mode="fixed", length_s=2.0, min_length_s=1.0)
    assert [(c.start_s, c.end_s) for c in clipmod.plan_clips(7.5, r)] == [(0, 2), (2, 4), (4, 6), (6, 7.5)]
    assert [(c.start_s, c.end_s) for c in clipmod.plan_clips(6.4, r)] == [(0, 2), (2, 4), (4, 6)]
    s = ClipRules(mode="scenes", min_length_s=1.0, max_length_s=4.0)
    pieces = clipmod.plan_clips(10.0, s, fps=24, scene_times=[0.5, 9.0])
    assert [(c.start_s, c.end_s) for c in pieces] == [(0.5, 3.333333), (3.333333, 6.166667), (6.166667, 9.0),
                                                     (9.0, 10.0)]
    assert all(round(c.duration_s * 24, 3) == round(c.duration_s * 24) for c in pieces)
    assert clipmod.plan_clips(0.5, r) == []


def test_rules_sections_name_the_unknown_field_and_check_values():
    with pytest.raises(ConfigError, match=r"\[filter\] has unknown field\(s\) min_durration"):
        filter_rules({"min_durration": 3})
    with pytest.raises(ConfigError, match="mode"):
        clip_rules({"mode": "shots"})
    assert filter_rules({"max_black_fraction": "off"}).max_black_fraction is None


def test_srt_and_json_sidecars_are_retimed_per_clip(tmp_path):
    srt = parse_srt("1\n00:00:00,500 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 --> 00:00:05,250\nworld\n")
    assert srt["cues"][1] == {"start": 3.0, "end": 5.25, "text": "world"}
    assert retime(srt, 1.0, 4.0)["cues"] == [{"start": 0.0, "end": 1.0, "text": "hello"},
                                              {"start": 2.0, "end": 3.0, "text": "world"}]
    data = {"caption": "a cat", "events": [{"start": 0, "end": 1, "label": "jump"},
                                            {"start": 6, "end": 7, "label": "sit"}]}
    video = tmp_path / "cat.mp4"
    video.write_bytes(b"x")
    (tmp_path / "cat.json").write_text(json.dumps(data))
    item = Annotate()(Item(source=video))
    assert item.annotations["format"] == "json"
    clip = clip_annotations(item.annotations, 5.5, 8.0)
    assert clip["data"] == {"caption": "a cat", "events": [{"start": 0.5, "end": 1.5, "label": "sit"}]}


def test_hash_is_sha256_of_the_bytes_and_duplicates_keep_the_first_sorted_path(tmp_path):
    a, b, c = tmp_path / "b.bin", tmp_path / "a.bin", tmp_path / "c.bin"
    a.write_bytes(b"same")
    b.write_bytes(b"same")
    c.write_bytes(b"other")
    import hashlib
    assert content_hash(a) == hashlib.sha256(b"same").hexdigest()
    hashes = {p: content_hash(p) for p in (a, b, c)}
    first, dup = group_duplicates(hashes)
    assert dup == {a: b} and first[hashes[a]] == b
    cache = HashCache(tmp_path / "hashes.jsonl")
    cache.add(hashes)
    again = HashCache(tmp_path / "hashes.jsonl")
    assert again.lookup(a) == hashes[a]
    a.write_bytes(b"changed")  # size and mtime change: the cached hash is not used
    assert again.lookup(a) is None


def test_webdataset_shards_hold_clip_and_record_and_respect_the_size(tmp_path):
    wds = pytest.importorskip("webdataset")
    clips = []
    for i in range(5):
        p = tmp_path / f"c{i}.mp4"
        p.write_bytes(bytes([i]) * 3000)
        clips.append(p)
    w = WebDatasetWriter(tmp_path / "shards", shard_size=20480)  # 4 samples of 4608 bytes, end, padding
    for i, p in enumerate(clips):
        w.write({"id": f"clip{i:03d}", "output_path": str(p), "n": i}, p)
    shards = w.close()
    assert len(shards) == 2 and all(s.stat().st_size <= 20480 for s in shards)
    seen = []
    for sample in wds.WebDataset([str(s) for s in shards], shardshuffle=False):
        rec = json.loads(sample["json"])
        assert sample["mp4"] == bytes([rec["n"]]) * 3000
        seen.append(sample["__key__"])
    assert seen == [f"clip{i:03d}" for i in range(5)]
    with tarfile.open(shards[0]) as t:
        assert t.getnames()[:4] == ["clip000.mp4", "clip000.json", "clip001.mp4", "clip001.json"]
        assert len(t.getnames()) == 8


def test_manifest_writers_write_jsonl_and_parquet(tmp_path):
    rec = {"id": "x_000", "measurements": {"black": 0.0}, "width": 854}
    j = JsonlWriter(tmp_path / "m.jsonl")
    j.write(rec, None)
    assert json.loads(j.close()[0].read_text()) == rec
    pq = pytest.importorskip("pyarrow.parquet")
    p = ParquetWriter(tmp_path / "m.parquet")
    p.write(rec, None)
    table = pq.read_table(p.close()[0]).to_pylist()
    assert table == [{"id": "x_000", "measurements": '{"black": 0.0}', "width": 854}]


def test_parquet_without_pyarrow_says_what_to_install(monkeypatch, tmp_path):
    import builtins
    real = builtins.__import__

    def no_pyarrow(name, *a, **kw):
        if name.startswith("pyarrow"):
            raise ImportError("no pyarrow")
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    with pytest.raises(FeatureMissing, match=r"codeckit\[parquet\]"):
        ParquetWriter(tmp_path / "m.parquet")


def test_sizes_parse_and_nonsense_is_refused():
    assert parse_size("500MB") == 500_000_000 and parse_size("1GiB") == 1 << 30 and parse_size("200k") == 200_000
    with pytest.raises(CodeckitError):
        parse_size("lots")


@pytest.mark.parametrize("text", ["0.1", "0.5b", "nan", "inf", "-inf", "infGB", "0", 0, -5])
def test_sizes_under_one_byte_or_not_finite_are_refused_up_front(text):
    # --shard-size 0.1 used to parse to 0 and fail only after every source was encoded (no manifest written);
    # nan and inf raised ValueError/OverflowError tracebacks
    with pytest.raises(CodeckitError, match="not a size"):
        parse_size(text)


def test_unknown_backend_and_address_without_cluster_are_config_errors():
    from codeckit.cluster import engine
    with pytest.raises(ConfigError):
        with engine("spark"):
            pass
    with pytest.raises(ConfigError):
        with engine("local", address="tcp://127.0.0.1:1"):
            pass


def test_shipped_training_profiles_load_in_the_profile_loader_and_with_their_rules():
    from codeckit.normalize.profile import load_training_profile
    from codeckit.profiles import load_profile
    for name in ("training-480p24", "training-512sq"):
        t = load_profile(name)  # what `codeckit profiles` and transcode read: they leave [filter] alone
        assert (t.video.codec, t.video.keyint, t.video.fps, t.audio.mode) == ("h264", 24, "24", "drop")
    sq = load_training_profile("training-512sq")
    assert (sq.target.video.width, sq.target.video.height) == (512, 512)
    assert sq.clips.mode == "scenes" and sq.filters.min_width == 256


def test_a_profile_file_may_hold_filter_and_clips_tables(tmp_path):
    from codeckit.normalize.profile import load_training_profile
    p = tmp_path / "mine.toml"
    p.write_text('container = "mp4"\n[video]\ncodec = "h264"\nsize = "exact"\nwidth = 320\nheight = 240\n'
                 '[filter]\nmin_duration_s = 5\n[clips]\nmode = "fixed"\nlength_s = 2\n')
    prof = load_training_profile(str(p), sets=["filter.max_black_fraction=off", "video.quality=60"])
    assert prof.filters.min_duration_s == 5 and prof.filters.max_black_fraction is None
    assert prof.clips.length_s == 2 and prof.target.video.quality == 60
    p.write_text('[video]\ncodec = "h264"\n[filter]\nmin_durration = 5\n')
    with pytest.raises(ConfigError, match="min_durration"):
        load_training_profile(str(p))


@pytest.mark.parametrize("sets, clips, origin", [
    (["clips.min_length_s=5", "clips.max_length_s=2"], None, "--set clips.min_length_s=5"),
    (["clips.length_s=abc"], None, "--set clips.length_s=abc"),
    (["filter.min_width=1.5"], None, "--set filter.min_width=1.5"),
    ([], {"mode": "scenes", "min_length_s": 5.0, "max_length_s": 2.0}, "--clips"),
    ([], {"mode": "fixed", "length_s": 0.0}, "--clips"),
])
def test_a_bad_override_names_the_option_that_gave_it_not_the_shipped_profile(sets, clips, origin):
    # these used to be reported as "/…/profiles/training-480p24.toml: [clips] …": a file the user never wrote
    from codeckit.normalize.profile import load_training_profile
    with pytest.raises(ConfigError) as err:
        load_training_profile("training-480p24", sets=sets, clips=clips)
    assert err.value.path.startswith(origin) and "training-480p24.toml" not in err.value.path


def test_a_bad_value_in_a_profile_file_still_names_the_file(tmp_path):
    from codeckit.normalize.profile import load_training_profile
    p = tmp_path / "mine.toml"
    p.write_text('[video]\ncodec = "h264"\n[clips]\nmin_length_s = 5\nmax_length_s = 2\n')
    with pytest.raises(ConfigError) as err:
        load_training_profile(str(p))
    assert err.value.path == str(p) and err.value.code == "conflicting_fields"
    with pytest.raises(ConfigError) as err:
        load_training_profile(str(p), sets=["clips.max_length_s=1"])
    assert str(p) in err.value.path and "--set clips.max_length_s=1" in err.value.path


def test_an_instant_event_on_a_clip_boundary_goes_to_the_clip_that_starts_there():
    # a zero-length entry (a marker) at 1.0 s used to be kept by neither [0, 1) nor [1, 2)
    data = {"events": [{"start": 1.0, "end": 1.0, "what": "mark"}, {"start": 0.5, "end": 0.5, "what": "inside"}]}
    assert retime(data, 0.0, 1.0)["events"] == [{"start": 0.5, "end": 0.5, "what": "inside"}]
    assert retime(data, 1.0, 2.0)["events"] == [{"start": 0.0, "end": 0.0, "what": "mark"}]
