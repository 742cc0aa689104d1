"""The VMAF models codeckit knows by name (and model files), and the extra metrics libvmaf or FFmpeg add."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError


@dataclass(frozen=True)
class VmafModel:
    """One VMAF model as libvmaf names it, and the display it was trained for."""
    name: str                   # codeckit's name for it (and the metric's name in results)
    spec: str                   # libvmaf's `model=` entry (without `name=`)
    size: tuple[int, int]       # the frame size the model expects (for scale="model")
    note: str = ""


MODELS: dict[str, VmafModel] = {m.name: m for m in (
    VmafModel("vmaf_v0.6.1", "version=vmaf_v0.6.1", (1920, 1080), "default: 1080p TV at 3 picture heights"),
    VmafModel("vmaf_v0.6.1neg", "version=vmaf_v0.6.1neg", (1920, 1080),
              "no-enhancement-gain: does not reward sharpening or contrast boosts"),
    VmafModel("vmaf_4k_v0.6.1", "version=vmaf_4k_v0.6.1", (3840, 2160), "4K TV at 1.5 picture heights"),
    # The phone model is vmaf_v0.6.1 with its score transform switched on (libvmaf's enable_transform).
    VmafModel("vmaf_v0.6.1_phone", "version=vmaf_v0.6.1:enable_transform=true", (1920, 1080),
              "vmaf_v0.6.1 for phone viewing (enable_transform)"),
)}
MODEL_ALIASES = {"default": "vmaf_v0.6.1", "vmaf": "vmaf_v0.6.1", "neg": "vmaf_v0.6.1neg",
                 "4k": "vmaf_4k_v0.6.1", "vmaf_4k": "vmaf_4k_v0.6.1", "phone": "vmaf_v0.6.1_phone",
                 "vmaf_phone": "vmaf_v0.6.1_phone", "vmaf_v0.6.1phone": "vmaf_v0.6.1_phone"}
AUTO_MODEL = "auto"
#: References this tall (or this wide) and above get the 4K model when the model is "auto".
UHD_HEIGHT, UHD_WIDTH = 2160, 3840

# Extra metrics: name -> libvmaf feature extractors (XPSNR is FFmpeg's own filter, run beside libvmaf).
EXTRA_METRICS = {"psnr": ("psnr",), "ssim": ("float_ssim",), "ms_ssim": ("float_ms_ssim",), "xpsnr": ()}
# Per-frame keys each extra metric yields, in the order they are reported.
METRIC_KEYS = {"psnr": ("psnr_y", "psnr_cb", "psnr_cr"), "ssim": ("float_ssim",),
               "ms_ssim": ("float_ms_ssim",), "xpsnr": ("xpsnr_y", "xpsnr_u", "xpsnr_v")}
# XPSNR of identical frames is infinite; pooled as this ceiling (libvmaf caps its PSNR the same way, at 60 dB).
XPSNR_CEILING_DB = 100.0


def resolve_model(name: str) -> VmafModel:
    """A model by codeckit's name, an alias, or a path to a libvmaf model JSON file."""
    key = name.strip()
    key = MODEL_ALIASES.get(key.lower(), key)
    if key in MODELS:
        return MODELS[key]
    if key.lower().endswith(".json"):
        path = Path(key)
        if not path.is_file():
            raise ConfigError(f"VMAF model file {path} does not exist")
        return VmafModel(path.stem, f"path={path.resolve()}", (1920, 1080), "model file")
    raise ConfigError(f"unknown VMAF model {name!r}",
                      hint="use one of " + ", ".join([AUTO_MODEL, *MODELS, "phone"]) + " or a model .json file")


def model_for_size(width: int, height: int) -> VmafModel:
    """The model VMAF practice uses for a reference of this size: 4K at 2160p and above, else the 1080p one."""
    if height >= UHD_HEIGHT or width >= UHD_WIDTH:
        return MODELS["vmaf_4k_v0.6.1"]
    return MODELS["vmaf_v0.6.1"]


__all__ = ["AUTO_MODEL", "EXTRA_METRICS", "METRIC_KEYS", "MODELS", "MODEL_ALIASES", "UHD_HEIGHT", "UHD_WIDTH",
           "VmafModel", "XPSNR_CEILING_DB", "model_for_size", "resolve_model"]
