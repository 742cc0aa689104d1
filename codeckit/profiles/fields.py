"""Settings declared once: each dataclass field carries its profile key, check and one-line doc (`declared`).

The key table, the unknown-field messages, `target_to_raw` and `describe_target` are all read off these
declarations (shaka-streamer's configuration does the same), so adding a setting is one line. A check takes
the value as written (TOML or `--set`) and returns the typed value, or raises ValueError whose text is the
allowed values; the caller turns that into a ConfigError naming the file, the field and those values.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import MISSING, dataclass
from typing import Any, Callable, Iterable, Iterator

from ..errors import ConfigError

Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Spec:
    """What a profile says about one field."""
    key: str                               # dotted key ("video.quality.knob"; in `declared`: under its table)
    check: Check                           # written value -> typed value; ValueError(allowed values)
    doc: str                               # one line, shown by `codeckit profiles NAME`
    aliases: tuple[str, ...] = ()          # other keys that give the same field ("quality.crf")
    # A key that fills more than one attribute (keyint: frames or seconds): its check returns one value per
    # name here, and `show` reads the key's value back off the owner.
    fills: tuple[str, ...] = ()
    show: Callable[[Any], Any] | None = None


def declared(default: Any = MISSING, *, check: Check, doc: str, key: str | None = None,
             aliases: Iterable[str] = (), fills: Iterable[str] = (), show: Callable[[Any], Any] | None = None,
             default_factory: Any = MISSING) -> Any:
    """A dataclass field with its profile key (default: the field's name), check and doc."""
    spec = {"key": key, "check": check, "doc": doc, "aliases": tuple(aliases), "fills": tuple(fills),
            "show": show}
    return dataclasses.field(default=default, default_factory=default_factory, metadata={"spec": spec})


def table(cls: type, name: str | None = None) -> Any:
    """A dataclass field holding another declared class (VideoTarget under [video]); its keys sit below `name`."""
    return dataclasses.field(default_factory=cls, metadata={"table": name})


@dataclass(frozen=True)
class Declared:
    """One key of a declared class: where its value lives (attribute path) and its Spec (full dotted keys)."""
    path: tuple[str, ...]                   # attributes from the top object (("video", "knob"))
    spec: Spec

    @property
    def key(self) -> str:
        return self.spec.key

    def read(self, obj: Any) -> Any:
        """The key's value on `obj` (the top object), as a profile would write it."""
        owner = obj
        for attr in self.path[:-1]:
            owner = getattr(owner, attr)
        return self.spec.show(owner) if self.spec.show else getattr(owner, self.path[-1])


def declarations(cls: type, prefix: str = "", path: tuple[str, ...] = ()) -> Iterator[Declared]:
    """Every declared key of `cls` (and of the classes in its tables), in declaration order."""
    for f in dataclasses.fields(cls):
        if "table" in f.metadata:
            sub = f.metadata["table"] or f.name
            yield from declarations(f.default_factory, f"{prefix}{sub}.", path + (f.name,))
        elif "spec" in f.metadata:
            meta = dict(f.metadata["spec"])
            meta["key"] = prefix + (meta["key"] or f.name)
            meta["aliases"] = tuple(prefix + a for a in meta["aliases"])
            yield Declared(path + (f.name,), Spec(**meta))


def check_declared(obj: Any, section: str) -> None:
    """Run every declared check on a frozen dataclass instance, storing the typed values.

    For classes built straight from Python (FilterRules(...)), so a bad value fails at once, naming the field.
    """
    for d in declarations(type(obj)):
        value = getattr(obj, d.path[-1])
        try:
            checked = d.spec.check(value)
        except ValueError as exc:
            err = ConfigError(f"[{section}] {d.key} = {value!r} is not allowed", hint=f"allowed: {exc}",
                              code="invalid_value")
            err.fields = (d.key,)   # for a caller that knows where each field came from (a file, an option)
            raise err from None
        object.__setattr__(obj, d.path[-1], checked)


# ---------------------------------------------------------------- checks more than one setting uses

def choice(options: Iterable[str]) -> Check:
    """One of `options` (any case, spaces around ignored)."""
    options = tuple(options)

    def check(v):
        if isinstance(v, str) and v.strip().lower() in options:
            return v.strip().lower()
        raise ValueError(", ".join(options))
    return check


def boolean(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "false", "yes", "no", "on", "off", "1", "0"):
        return v.lower() in ("true", "yes", "on", "1")
    raise ValueError("true, false")


def whole(lo: int, hi: int | None = None, none_ok: bool = False,
          convert: Callable[[Any], Any] | None = int) -> Check:
    """A whole number from lo to hi (no upper bound when hi is None); with none_ok also None/"none"/"auto";
    `convert=None` keeps 300.0 as written (for fingerprints)."""
    span = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"

    def check(v):
        if none_ok and v in (None, "none", "auto"):
            return None
        if (isinstance(v, bool) or not isinstance(v, (int, float)) or int(v) != v or v < lo
                or (hi is not None and v > hi)):
            raise ValueError(f"a whole number {span}" + (" (or \"none\")" if none_ok else ""))
        return convert(v) if convert else v
    return check


def number(lo: float, hi: float | None = None, *, above: bool = False, none_ok: bool = False,
           convert: Callable[[Any], Any] | None = float) -> Check:
    """A number from lo to hi (above lo, when `above`); `convert=None` keeps an int an int (for fingerprints)."""
    if above:
        span = f"above {lo:g}" + (f" and at most {hi:g}" if hi is not None else "")
    else:
        span = f"from {lo:g} to {hi:g}" if hi is not None else f"of at least {lo:g}"

    def check(v):
        if none_ok and v is None:
            return None
        # TOML reads inf and nan as floats, and nan passes every comparison: a cost model with months = inf
        # wrote Infinity (not JSON) into compare's report.json
        finite = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not finite or v < lo or (above and v == lo) or (hi is not None and v > hi):
            raise ValueError(("a finite number " if isinstance(v, float) and not math.isfinite(v) else "a number ")
                             + span + (" (or \"off\")" if none_ok else ""))
        return convert(v) if convert else v
    return check


def text(v):
    if isinstance(v, str):
        return v
    raise ValueError("a string")
