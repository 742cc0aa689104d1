"""Choose an implementation for a target, in order of preference, and fall back when one fails at run time."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError, EncoderUnavailable
from .capability import Capability, probe_capabilities
from .table import BY_NAME, EncoderArgs, Implementation, encoder_args, implementations_of, resolve_codec

#: How a target may ask for an implementation besides naming one (profiles' video.implementation reads this).
PREFERENCES = ("hardware", "software")


@dataclass(frozen=True)
class EncoderRequest:
    """What the caller wants encoded; `prefer` is "hardware" (first, then software), "software" (only),
    or an implementation name (that one only)."""
    codec: str
    quality: float | None = None       # common 0-100 scale
    knob_value: float | None = None    # or the implementation's native knob (CRF, CQ, QP), wins over quality
    speed: str | int = "medium"
    bit_depth: int = 8
    prefer: str = "hardware"


@dataclass
class EncoderChoice:
    implementation: Implementation
    args: EncoderArgs
    reason: str


@dataclass
class Selection:
    """The ordered candidates for a request, and the record of what was chosen and what failed."""
    request: EncoderRequest
    candidates: list[Implementation]
    rejected: list[tuple[str, str]] = field(default_factory=list)      # (name, why not considered)
    failures: list[tuple[str, str]] = field(default_factory=list)      # (name, run-time error)
    _pos: int = 0

    @property
    def current(self) -> EncoderChoice:
        impl = self.candidates[self._pos]
        why = self._reason(impl)
        return EncoderChoice(impl, self._args(impl), why)

    def _args(self, impl: Implementation) -> EncoderArgs:
        r = self.request
        return encoder_args(impl, quality=r.quality, knob_value=r.knob_value, speed=r.speed, bit_depth=r.bit_depth)

    def _reason(self, impl: Implementation) -> str:
        r = self.request
        parts = []
        if r.prefer in PREFERENCES:
            parts.append(f"{impl.kind} {impl.name} is the first available {r.codec} implementation"
                         f" ({'hardware first' if r.prefer == 'hardware' else 'software only'})")
        else:
            parts.append(f"{impl.name} was asked for by name")
        skipped = [f"{n} ({why})" for n, why in self.rejected if BY_NAME.get(n) and
                   self.candidates and _before(BY_NAME[n], impl, r.prefer)]
        if skipped:
            parts.append("skipped: " + "; ".join(skipped))
        if self.failures:
            parts.append("after failures: " + "; ".join(f"{n} ({e})" for n, e in self.failures))
        return ". ".join(parts)

    def fall_back(self, error: str) -> EncoderChoice | None:
        """Record that the current implementation failed at run time; return the next one, or None."""
        self.failures.append((self.candidates[self._pos].name, error))
        if self._pos + 1 >= len(self.candidates):
            return None
        self._pos += 1
        return self.current

    @property
    def fell_back(self) -> bool:
        return bool(self.failures)


def _order_key(impl: Implementation, prefer: str):
    hw_first = prefer == "hardware"
    return (0 if impl.hardware == hw_first else 1, impl.rank, impl.name)


def _before(a: Implementation, b: Implementation, prefer: str) -> bool:
    return _order_key(a, prefer) < _order_key(b, prefer)


def choose_encoder(request: EncoderRequest, capabilities: dict[str, Capability] | None = None) -> Selection:
    """Order the implementations of `request.codec` that work here and fit the request.

    Raises EncoderUnavailable, saying why each implementation was left out, when none is left.
    """
    codec = resolve_codec(request.codec).name
    prefer = request.prefer
    if prefer not in PREFERENCES and prefer not in BY_NAME:
        raise ConfigError(f"unknown encoder preference {prefer!r}",
                          hint="use hardware, software, or an implementation name (see `codeckit encoders`)")
    if prefer in BY_NAME and BY_NAME[prefer].codec != codec:
        raise ConfigError(f"{prefer} encodes {BY_NAME[prefer].codec}, not {codec}")
    caps = capabilities if capabilities is not None else probe_capabilities()
    pool = implementations_of(codec)
    if prefer == "software":
        pool = [i for i in pool if not i.hardware]
    elif prefer in BY_NAME:
        pool = [BY_NAME[prefer]]
    candidates, rejected = [], []
    for impl in sorted(pool, key=lambda i: _order_key(i, prefer)):
        cap = caps.get(impl.name)
        if cap is None or not cap.available:
            rejected.append((impl.name, cap.reason if cap else "not checked"))
        elif request.bit_depth not in impl.pix_fmts:
            rejected.append((impl.name, f"no {request.bit_depth}-bit support"))
        else:
            candidates.append(impl)
    if not candidates:
        detail = "; ".join(f"{n}: {why}" for n, why in rejected) or "none known"
        raise EncoderUnavailable(f"no working {codec} encoder for {request.bit_depth}-bit video on this machine "
                                 f"({detail})", hint="run `codeckit encoders` to see what works here")
    return Selection(request=request, candidates=candidates, rejected=rejected)
