"""A profile's TOML tables <-> a Target: validation, `--set` overrides, and the way back (all through KEYS).

Every message names where the value came from (the file, or the `--set` option), the field, and the allowed
values: `origins` maps a dotted key to the `--set` that gave it; the rest came from `source`.
"""
from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, Iterable

from ..codecs import BY_NAME
from ..codecs.select import PREFERENCES
from ..errors import ConfigError
from .target import ALIASES, CONTAINERS, KEYS, OTHER_SECTIONS, SECTIONS, AudioTarget, Target, VideoTarget

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _fail(key: str, value: Any, allowed: str, origins: dict[str, str], source: str | None,
          problem: str = "is not allowed", code: str = "invalid_value", blame: tuple[str, ...] = ()) -> ConfigError:
    """`blame`: the other fields of a conflict; the first given by a --set is named (the file's container
    cannot hold ffv1 because --set video.codec=ffv1 asked for it)."""
    where = next((origins[k] for k in (key, *blame) if k in origins), None) or source or "profile"
    return ConfigError(f"{key} = {value!r} {problem}", path=where, hint=f"allowed: {allowed}", code=code)


def _keys_under(prefix: str) -> list[str]:
    """The keys (and aliases) one level below `prefix` ("video." -> codec, quality, ...), as written there."""
    names = [k[len(prefix):] for k in list(KEYS) + list(ALIASES) if k.startswith(prefix)]
    return [n for n in dict.fromkeys(names) if "." not in n]


def _allowed_under(prefix: str) -> list[str]:
    """The names one level below `prefix`, each with its other names: "knob (or crf, cq, qp, q)"."""
    out = []
    for name in _keys_under(prefix):
        key = prefix + name
        if key in KEYS:
            others = [a[len(prefix):] for a in KEYS[key].spec.aliases if a.rsplit(".", 1)[0] + "." == prefix]
            out.append(name + (f" (or {', '.join(others)})" if others else ""))
        elif not ALIASES[key].startswith(prefix):
            out.append(name)            # another name of the key above (quality = { common = 80 })
    return out


def _canonical(key: str) -> str | None:
    return key if key in KEYS else ALIASES.get(key)


def _flatten(raw: dict, origins: dict[str, str], source: str | None) -> dict[str, Any]:
    """The profile's nested tables as canonical dotted keys; unknown keys are errors that list the known ones."""
    flat: dict[str, Any] = {}

    def walk(table: dict, prefix: str) -> None:
        for name, value in table.items():
            key = prefix + name
            if isinstance(value, dict) and (key in SECTIONS or _keys_under(key + ".")) and key not in OTHER_SECTIONS:
                # a table: a section ([video]), or a key given as a table (quality = { vmaf = 93 })
                parent = _canonical(key)
                for sub in value:
                    if parent and _canonical(f"{key}.{sub}"):
                        origins.setdefault(_canonical(f"{key}.{sub}"), origins.get(parent, source or "profile"))
                walk(value, key + ".")
            elif key in SECTIONS:
                raise _fail(key, value, f"a [{key}] table", origins, source, problem="must be a table")
            elif not prefix and (key in OTHER_SECTIONS and isinstance(value, dict) or key == "name"):
                continue
            elif _canonical(key):
                flat[_canonical(key)] = value
            else:
                known = _allowed_under(prefix)
                if not prefix:
                    known += list(SECTIONS) + list(OTHER_SECTIONS) + ["name"]
                elif prefix.count(".") == 1:
                    known = sorted(known)
                raise _fail(key, value, ", ".join(known), origins, source, problem="is not a known field",
                            code="unknown_field")

    walk(raw, "")
    return flat


def target_from_raw(raw: dict, *, name: str = "custom", source: str | None = None,
                    origins: dict[str, str] | None = None) -> Target:
    """Validate a profile's parsed TOML (nested tables) into a Target.

    Raises ConfigError naming the file (or the --set option) that gave the value, the field, and the allowed
    values.
    """
    origins = dict(origins or {})
    flat = _flatten(raw, origins, source)
    values: dict[tuple[str, ...], Any] = {}
    for key, value in flat.items():
        d = KEYS[key]
        try:
            checked = d.spec.check(value)
        except ValueError as exc:
            raise _fail(key, value, str(exc), origins, source) from None
        if d.spec.fills:
            values.update({d.path[:-1] + (attr,): v for attr, v in zip(d.spec.fills, checked)})
        else:
            values[d.path] = checked

    video = replace(VideoTarget(), **{a[1]: v for a, v in values.items() if a[0] == "video"})
    audio = replace(AudioTarget(), **{a[1]: v for a, v in values.items() if a[0] == "audio"})
    top = {a[0]: v for a, v in values.items() if len(a) == 1}
    others = tuple(k for k in OTHER_SECTIONS if isinstance(raw.get(k), dict))
    target = Target(name=str(raw.get("name") or name), video=video, audio=audio, source=source,
                    other_sections=others, **top)
    _check_consistency(target, flat, origins, source)
    return target


def _check_consistency(t: Target, flat: dict, origins: dict[str, str], source: str | None) -> None:
    v = t.video
    cont = CONTAINERS[t.container]
    if v.codec not in cont.video:
        holders = [c.name for c in CONTAINERS.values() if v.codec in c.video]
        raise _fail("container", t.container, ", ".join(holders) + f" (for {v.codec})", origins, source,
                    problem=f"cannot hold {v.codec} video", code="conflicting_fields", blame=("video.codec",))
    if t.audio.mode == "encode" and cont.audio is not None and t.audio.codec not in cont.audio:
        raise _fail("audio.codec", t.audio.codec, ", ".join(sorted(cont.audio)) + f" (in {t.container})",
                    origins, source, problem=f"cannot go into {t.container}", code="conflicting_fields",
                    blame=("container", "audio.mode"))
    if v.implementation not in PREFERENCES and BY_NAME[v.implementation].codec != v.codec:
        same = [i for i in BY_NAME.values() if i.codec == v.codec]
        raise _fail("video.implementation", v.implementation,
                    "hardware, software, " + ", ".join(i.name for i in same), origins, source,
                    problem=f"does not encode {v.codec}", code="conflicting_fields", blame=("video.codec",))
    _check_pix_fmt_depth(v, flat, origins, source)
    given = [k for k in ("video.quality", "video.quality.knob", "video.quality.vmaf") if k in flat]
    if len(given) > 1:
        raise _fail(given[1], flat[given[1]], "one of quality = N (0-100), quality = { knob = N }, "
                    "quality = { vmaf = N }", origins, source, problem=f"conflicts with {given[0]}",
                    code="conflicting_fields")
    if v.size in ("fit", "exact") and (v.width is None or v.height is None):
        missing = "video.width" if v.width is None else "video.height"
        raise _fail(missing, None, f"a number of pixels (needed by video.size = {v.size!r})", origins, source,
                    problem="is missing", code="missing_field")
    if v.size in ("fit", "exact") and (v.width % 2 or v.height % 2):
        key = "video.width" if v.width % 2 else "video.height"
        raise _fail(key, getattr(v, key.split(".")[1]), "an even number of pixels", origins, source,
                    problem="is odd")


def _check_pix_fmt_depth(v, flat: dict, origins: dict[str, str], source: str | None) -> None:
    """bit_depth = 10 with pix_fmt = "yuv420p" made an 8-bit output, silently: a named pixel format must have the
    bit depth the profile gives (when it gives one; without it the pixel format decides)."""
    from ..probe import _bit_depth as depth_of     # (imported here: probe imports PyAV)
    if "video.bit_depth" not in flat or not isinstance(v.bit_depth, int) or v.pix_fmt in (None, "source"):
        return
    depth = depth_of(v.pix_fmt)
    if depth is not None and depth != v.bit_depth:
        raise _fail("video.pix_fmt", v.pix_fmt, f"a {v.bit_depth}-bit pixel format or \"auto\" (the encoder's), "
                    f"or video.bit_depth = {depth}",
                    origins, source, problem=f"is {depth}-bit: it conflicts with video.bit_depth = {v.bit_depth}",
                    code="conflicting_fields", blame=("video.bit_depth",))


# ---------------------------------------------------------------- --set, and the way back

def parse_value(text: str) -> Any:
    """A `--set` value: TOML when it parses (numbers, booleans, quoted strings, tables), else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _put(raw: dict, key: str, value: Any) -> None:
    """Set a dotted key in nested tables. Below a key that is itself a field (video.quality), the sub-keys
    are other ways of giving that field: one replaces the others (quality = 80 vs quality = { vmaf = 93 })."""
    parts = key.split(".")
    node = raw
    for i, part in enumerate(parts[:-1]):
        if ".".join(parts[:i + 1]) in KEYS:
            node[part] = {}
        node = node.setdefault(part, {})
    if key in KEYS and isinstance(node.get(parts[-1]), dict) and _keys_under(key + "."):
        del node[parts[-1]]
    node[parts[-1]] = value


def apply_sets(raw: dict, sets: Iterable[str], origins: dict[str, str]) -> dict:
    """Apply `key=value` overrides (dotted keys: video.quality=80, audio.mode=drop) to a parsed profile."""
    for item in sets:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {item!r} is not key=value", hint="e.g. --set video.quality=80", code="bad_option")
        section = key.split(".")[0]
        if section in OTHER_SECTIONS and "." in key:
            raise ConfigError(f"--set {key}: [{section}] is read by {OTHER_SECTIONS[section]} only",
                              code="unknown_field")
        canonical = _canonical(key)
        if canonical is None:
            raise ConfigError(f"--set {key}: not a known field", hint="known: " + ", ".join(sorted(KEYS)),
                              code="unknown_field")
        _put(raw, key, parse_value(text.strip()))
        origins[canonical] = f"--set {item}"
        parent = key.rsplit(".", 1)[0]
        if parent in KEYS:
            origins[parent] = f"--set {item}"
    return raw


def target_to_raw(t: Target) -> dict:
    """A Target as the nested tables of a profile (the inverse of target_from_raw)."""
    raw: dict[str, Any] = {"name": t.name}
    for key, d in KEYS.items():
        value = d.read(t)
        if value is not None:
            _put(raw, key, value)
    return raw


def describe_target(t: Target) -> dict[str, Any]:
    """Every field with its value, as dotted keys (for `codeckit profiles NAME`)."""
    return {key: d.read(t) for key, d in KEYS.items()}


def field_docs() -> dict[str, str]:
    """Every key's one-line doc, in the order describe_target gives them."""
    return {key: d.spec.doc for key, d in KEYS.items()}
