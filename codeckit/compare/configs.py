"""Encoder configurations to compare: `libx264,libx265:slow,av1:fast` -> implementation + speed, via the codec table."""
from __future__ import annotations

from dataclasses import dataclass

from ..codecs import BY_NAME, SPEEDS, EncoderRequest, Implementation, choose_encoder
from ..codecs.capability import Capability, probe_capabilities
from ..codecs.table import SPEED_CHOICES, speed_index
from ..errors import ConfigError, EncoderUnavailable


@dataclass(frozen=True)
class Config:
    """One curve of a comparison: an implementation at a speed (SPEEDS name)."""
    implementation: Implementation
    speed: str

    @property
    def encoder(self) -> str:
        return self.implementation.name

    @property
    def label(self) -> str:
        """How reports name it: `libx265:slow` (the name alone at the run's default speed is not enough when
        one encoder is listed at two speeds, so the speed is always there)."""
        return f"{self.encoder}:{self.speed}"


def _speed(text: str, where: str) -> str:
    try:
        return SPEEDS[speed_index(text)]
    except ConfigError:
        raise ConfigError(f"{where}: speed {text!r} is not one of {SPEED_CHOICES}", code="bad_option") from None


def parse_configs(text: str, *, speed: str = "medium", capabilities: dict[str, Capability] | None = None
                  ) -> list[Config]:
    """Configurations from `NAME[:SPEED],...`: NAME is an implementation (libx264, hevc_nvenc) or a codec
    (h264, av1: its first working implementation, hardware first); SPEED defaults to `speed`.

    Raises ConfigError for an unknown name, a speed that is not one, a repeat, or an encoder without a
    quality knob, and EncoderUnavailable when an implementation does not work on this machine.
    """
    caps = capabilities if capabilities is not None else probe_capabilities()
    default_speed = _speed(str(speed), "--speed")
    out: list[Config] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            continue
        name, _, sp = token.partition(":")
        impl = _implementation(name.strip(), caps)
        if impl.knob is None:
            raise ConfigError(f"--encoders {token}: {impl.name} has no quality knob to place RD points with "
                              f"({impl.note or 'fixed quality'})", code="bad_option")
        cfg = Config(impl, _speed(sp.strip(), f"--encoders {token}") if sp.strip() else default_speed)
        if cfg in out:
            raise ConfigError(f"--encoders lists {cfg.label} twice", code="bad_option")
        out.append(cfg)
    if not out:
        raise ConfigError("--encoders names no encoder", hint="e.g. libx264,libx265:slow", code="bad_option")
    return out


def _implementation(name: str, caps: dict[str, Capability]) -> Implementation:
    if name in BY_NAME:
        impl = BY_NAME[name]
        cap = caps.get(impl.name)
        if cap is None or not cap.available:
            raise EncoderUnavailable(f"{impl.name} does not work on this machine ({cap.reason if cap else 'unknown'})",
                                     hint="run `codeckit encoders` to see what works here")
        return impl
    try:
        return choose_encoder(EncoderRequest(name), caps).current.implementation
    except ConfigError:
        raise ConfigError(f"--encoders: {name!r} is neither an encoder nor a codec",
                          hint="implementations: " + ", ".join(BY_NAME), code="bad_option") from None


def find_config(configs: list[Config], name: str) -> Config:
    """The configuration `name` means (a label `libx265:slow`, or an encoder listed once)."""
    for c in configs:
        if name in (c.label, c.encoder):
            return c
    raise ConfigError(f"--anchor {name!r} is not one of the compared configurations",
                      hint="choose one of " + ", ".join(c.label for c in configs), code="bad_option")


__all__ = ["Config", "find_config", "parse_configs"]
