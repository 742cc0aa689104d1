"""A plan's arguments for everything but the video: audio, subtitles, attachments, metadata, chapters, muxer."""
from __future__ import annotations

from .probe import AudioStreamInfo, MediaInfo
from .profiles import AUDIO_ENCODERS, CONTAINERS, LOSSLESS_AUDIO, Target

TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text", "ttml"}


def stream_args_for(info: MediaInfo, target: Target, notes: list[str]) -> tuple[list[str], int, int]:
    """-map and codec arguments for audio and subtitles, then metadata, chapters and muxer options;
    and how many audio and subtitle streams the output holds."""
    audio, n_audio = _audio_args(info, target, notes)
    subs, n_subs = _subtitle_args(info, target, notes)
    _note_dropped_streams(info, target, notes)
    return audio + subs + _container_args(target), n_audio, n_subs


def _bits_per_s(text: str) -> float:
    t = text.strip().lower()
    mult = 1000.0 if t.endswith("k") else 1e6 if t.endswith("m") else 1.0
    return float(t.rstrip("km")) * mult


def _audio_args(info: MediaInfo, target: Target, notes: list[str]) -> tuple[list[str], int]:
    ta = target.audio
    if ta.mode == "drop":
        if info.audio:
            notes.append(f"{len(info.audio)} audio stream(s) dropped (audio.mode = drop)")
        return [], 0
    args: list[str] = []
    for k, a in enumerate(info.audio):
        args += ["-map", f"0:{a.index}"]
        if _copies_audio(a, target, notes):
            args += [f"-c:a:{k}", "copy"]
        else:
            args += _audio_encode_args(a, target, k)
    return args, len(info.audio)


def _copies_audio(a: AudioStreamInfo, target: Target, notes: list[str]) -> bool:
    """Whether audio stream `a` is copied as it is (the profile's limits met, and the container takes it)."""
    cont = CONTAINERS[target.container]
    ta = target.audio
    fits = cont.audio is None or a.codec in cont.audio
    if ta.mode == "copy":
        if not fits:
            notes.append(f"audio #{a.index} ({a.codec}) cannot go into {target.container}: "
                         f"re-encoded to {_audio_codec_for(ta.codec, cont)}")
        return fits
    copy = fits and a.codec == ta.codec and (
        ta.codec in LOSSLESS_AUDIO or (a.bit_rate or 0) and a.bit_rate <= _bits_per_s(ta.bitrate) * 1.05) \
        and (ta.channels is None or a.channels <= ta.channels) \
        and (ta.sample_rate is None or a.sample_rate == ta.sample_rate)
    if copy:
        notes.append(f"audio #{a.index} is already {a.codec} within the profile's limits: copied")
    return bool(copy)


def _audio_encode_args(a: AudioStreamInfo, target: Target, k: int) -> list[str]:
    """Codec, bitrate, channels and sample rate of output audio stream k, encoded from `a`."""
    ta = target.audio
    codec = _audio_codec_for(ta.codec, CONTAINERS[target.container])
    args = [f"-c:a:{k}", AUDIO_ENCODERS[codec]]
    if codec not in LOSSLESS_AUDIO:
        args += [f"-b:a:{k}", ta.bitrate]
    if ta.channels is not None and a.channels > ta.channels:
        args += [f"-ac:a:{k}", str(ta.channels)]
    if ta.sample_rate is not None:
        args += [f"-ar:a:{k}", str(ta.sample_rate)]
    elif codec == "opus" and a.sample_rate not in (8000, 12000, 16000, 24000, 48000):
        args += [f"-ar:a:{k}", "48000"]  # libopus takes only these rates
    return args


def _audio_codec_for(wanted: str, cont) -> str:
    if cont.audio is None or wanted in cont.audio:
        return wanted
    return "opus" if "opus" in cont.audio else "aac"


def _subtitle_args(info: MediaInfo, target: Target, notes: list[str]) -> tuple[list[str], int]:
    cont = CONTAINERS[target.container]
    if target.subtitles == "drop" and info.subtitles:
        notes.append(f"{len(info.subtitles)} subtitle stream(s) dropped (subtitles.mode = drop)")
    args: list[str] = []
    n_subs = 0
    for s in info.subtitles if target.subtitles == "copy" else []:
        text = s.codec in TEXT_SUBTITLES
        if text and cont.text_subtitles:
            codec = cont.text_subtitles
            if codec == "copy" and s.codec == "mov_text":
                codec = "srt"  # Matroska cannot hold mov_text
        elif not text and cont.bitmap_subtitles:
            codec = "copy"
        else:
            notes.append(f"subtitle #{s.index} ({s.codec}) cannot go into {target.container}: dropped")
            continue
        args += ["-map", f"0:{s.index}", f"-c:s:{n_subs}", "copy" if codec == s.codec else codec]
        n_subs += 1
    return args, n_subs


def _keeps_attachments(target: Target) -> bool:
    """Only Matroska holds attachments (the WebM and MP4 muxers refuse them); they are the fonts ASS subtitles
    are drawn with (or cover images), so they go along when the subtitles do."""
    return target.container == "mkv" and target.subtitles == "copy"


def _note_dropped_streams(info: MediaInfo, target: Target, notes: list[str]) -> None:
    """Say what the output will not carry of the streams no -map names: attachments, data streams."""
    if info.attachments and not _keeps_attachments(target):
        why = ("dropped with the subtitles (subtitles.mode = drop)" if target.container == "mkv"
               else f"dropped: {target.container} cannot hold attachments")
        notes.append(f"{info.attachments} attachment(s) (fonts, cover images) {why}")
    if info.data_streams:
        # no muxer takes them generically (Matroska refuses data streams; MP4's are codec-specific tracks)
        notes.append(f"{info.data_streams} data stream(s) (timecode, telemetry) dropped: outputs carry video, "
                     "audio and subtitles")


def _container_args(target: Target) -> list[str]:
    """Attachments, metadata, chapters and the muxer's own options."""
    cont = CONTAINERS[target.container]
    args: list[str] = []
    if _keeps_attachments(target):
        args += ["-map", "0:t?", "-c:t", "copy"]
    args += ["-map_metadata", "0" if target.metadata else "-1", "-map_chapters", "0" if target.chapters else "-1"]
    args += ["-f", cont.format]
    flags = []
    if cont.faststart and target.faststart:
        flags.append("+faststart")
    if cont.faststart and target.metadata:
        flags.append("+use_metadata_tags")  # keep every container tag, not only the few MP4 has atoms for
    if flags:
        args += ["-movflags", "".join(flags)]
    # sparse streams (subtitles) must not stall the muxer while video is still being encoded
    args += ["-max_muxing_queue_size", "4096"]
    return args


__all__ = ["TEXT_SUBTITLES", "stream_args_for"]
