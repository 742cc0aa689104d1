"""Profiles: what a file should become, loaded from TOML and validated into a Target.

A profile is one TOML file (shipped ones live in this folder); a Target is the validated, typed form that
`plan.plan()` turns into an EncodeJob. The pieces: `fields` (how a setting is declared: key, check, doc),
`target` (the Target, every field declared once, and the containers), `tables` (TOML tables <-> Target,
`--set`), `loading` (finding and reading files).
"""
from .loading import PROFILE_DIR, PROFILE_PATH_ENV, find_profile, load_profile, profile_names, read_profile
from .tables import apply_sets, describe_target, field_docs, parse_value, target_from_raw, target_to_raw
from .target import (ALIASES, ASPECT_MODES, AUDIO_CODECS, AUDIO_ENCODERS, AUDIO_MODES, CONTAINERS, DEINTERLACE,
                     FPS_MODES, HDR_MODES, KEYS, LOSSLESS_AUDIO, OTHER_SECTIONS, SECTIONS, SIZE_MODES,
                     SUBTITLE_MODES, AudioTarget, Container, Target, VideoTarget)

__all__ = ["ALIASES", "ASPECT_MODES", "AUDIO_CODECS", "AUDIO_ENCODERS", "AUDIO_MODES", "CONTAINERS", "DEINTERLACE",
           "FPS_MODES", "HDR_MODES", "KEYS", "LOSSLESS_AUDIO", "OTHER_SECTIONS", "PROFILE_DIR", "PROFILE_PATH_ENV",
           "SECTIONS", "SIZE_MODES", "SUBTITLE_MODES", "AudioTarget", "Container", "Target", "VideoTarget",
           "apply_sets", "describe_target", "field_docs", "find_profile", "load_profile", "parse_value",
           "profile_names", "read_profile", "target_from_raw", "target_to_raw"]
