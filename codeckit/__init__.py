"""codeckit: video transcoding and compression on real encoders, checked with VMAF."""
__version__ = "0.1.0"

from .errors import CodeckitError  # noqa: E402
from .probe import MediaInfo, probe  # noqa: E402

__all__ = ["CodeckitError", "MediaInfo", "probe", "__version__"]
