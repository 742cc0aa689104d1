"""VOD packaging: bitrate ladders (static TOML and per-title), one decode for all renditions, HLS + DASH over the
same CMAF segments (Shaka Packager), and the check of a package."""
from .check import CheckReport, Finding, check_package
from .ladder import Ladder, Rung, fit_size, ladder_names, load_ladder, select_rungs
from .pipeline import PackageOptions, PackageReport, PackageResult, package
from .renditions import RenditionJob, rendition_job, rung_threads, run_renditions

__all__ = ["CheckReport", "Finding", "Ladder", "PackageOptions", "PackageReport", "PackageResult", "RenditionJob",
           "Rung", "check_package", "fit_size", "ladder_names", "load_ladder", "package", "rendition_job",
           "rung_threads", "run_renditions", "select_rungs"]
