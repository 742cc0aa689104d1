"""VMAF-targeted encoding: find the quality-knob value that reaches a VMAF target with the fewest bytes.

Laid out like ab-av1's crf-search: `knob_search` is the search itself, `sample_encode` encodes and scores
every sample at one knob value (a probe), `samples` places the samples and builds their FFmpeg commands,
`model` is the monotone knob -> VMAF model, `cache` keeps sample results on disk, and `per_title` runs a
search per file for transcode profiles that ask for `quality = { vmaf = N }`.
"""
from .cache import SampleCache
from .knob_search import DEFAULT_MAX_PROBES, DEFAULT_TOLERANCE, Probe, SampleResult, SearchResult, search
from .model import KnobGrid, MonotoneCurve, monotone_search
from .samples import EncodeRecipe, Span, encode_args, encode_at, plan_samples, video_bytes

__all__ = ["DEFAULT_MAX_PROBES", "DEFAULT_TOLERANCE", "EncodeRecipe", "KnobGrid", "MonotoneCurve", "Probe",
           "SampleCache", "SampleResult", "SearchResult", "Span", "encode_args", "encode_at", "monotone_search",
           "plan_samples", "search", "video_bytes"]
