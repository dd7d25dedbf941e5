"""From a Parse to concrete actions on configured devices.

`resolve_targets` is a pure function of the parse, the home, the site and a
snapshot of what that site touched last. Targets are only ever configured
devices, found by name, area, floor or domain; spoken words are matched
against configuration and never copied into a topic. When it cannot tell
which device is meant it says so (and what it did not understand) rather
than guess.

How targets are chosen, in order:
  1. name slots: fuzzy device match (within the area/floor if one was said).
     Two equally good devices: the one in the site's area if that settles it,
     else an "ambiguous" error. A name that is really an area and/or a domain
     ("kitchen lights", "the lamps") is read as that group. A plural domain
     word ("kitchen lights") prefers the group over a single device.
  2. area / floor slots (+ domain / device class): every such device there.
  3. domain / device class alone: those devices in the site's area; with
     "all"/"every"/"house" in the utterance, the whole home; if neither gives
     any, the only such device in the home; otherwise an error asking which
     area.
  4. "it"/"them"/"that", or no target at all: the devices this site last
     touched within the context ttl; else, for intents that only fit one
     kind (a thermostat, a vacuum, ...), the only capable device in the site's
     area or the home; else an error.
An area or floor without a domain ("turn off the kitchen") means its lights
for on/toggle, and everything switchable (lights, switches, fans, media
players) for off. Such implicit groups never include an operation that is
sensitive for the device (unlocking, opening the garage): those have to be
asked for by name or domain.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from edged.home.gazetteer import NameSpan, sounds_alike, tokens
from edged.home.protocols import needs_known_value
from edged.home.registry import Area, Device, Home, NameMatch, normalise_words
from edged.home.state import EMPTY_STATE, StateView
from edged.lang import Language
from edged.lang import en as _english
from edged.nlu.types import Parse, Slot

ENGLISH = _english.LANGUAGE

ResolveReason = Literal[
    "ok",
    "nevermind",
    "not_recognized",
    "unsupported_intent",
    "invalid_value",
    "unknown_name",
    "unknown_area",
    "unknown_floor",
    "ambiguous",
    "no_target",
    "incapable",
]


@dataclass(frozen=True, slots=True)
class Action:
    device_id: str
    op: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device_id, "op": self.op, "params": dict(self.params)}


@dataclass(slots=True)
class Resolution:
    actions: list[Action] = field(default_factory=list)
    error: str | None = None
    reason: ResolveReason = "ok"
    # Spoken words that named nothing in the home.
    unresolved: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


class SiteContext:
    """What each site touched last, for "it"/"them". The daemon owns one,
    calls `remember` after executing, and passes it to resolve_targets."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._last: dict[str | None, tuple[float, tuple[str, ...]]] = {}

    def remember(self, site: str | None, device_ids: Iterable[str], now: float) -> None:
        ids = tuple(dict.fromkeys(device_ids))
        if ids:
            self._last[site] = (now, ids)

    def recall(self, site: str | None, now: float) -> tuple[str, ...]:
        entry = self._last.get(site)
        if entry is None or now - entry[0] > self.ttl_s:
            return ()
        return entry[1]

    def forget(self, site: str | None) -> None:
        self._last.pop(site, None)


# --- vocabulary --------------------------------------------------------------------

# The English word tables under their old names (edged.lang.en); the
# functions read the home's language (`Home.language`).
_PRONOUNS = ENGLISH.pronouns
# Words that ask for context on their own (as raw words, not only when the
# model tags them): "turn it off", "switch them on".
_PRONOUN_WORDS = ENGLISH.pronoun_words
# Intents that adjust what was just done: said bare ("brighter", "a bit
# more", "louder", "pause") they may act on what the site touched last.
_FOLLOW_UP_INTENTS = frozenset(
    {
        "EdgedLightBrighten",
        "EdgedLightDim",
        "HassLightSet",
        "EdgedVolumeUp",
        "EdgedVolumeDown",
        "HassSetVolume",
        "HassMediaPause",
        "HassMediaUnpause",
        "HassMediaNext",
        "HassMediaPrevious",
        "HassFanSetSpeed",
        "HassSetPosition",
        "HassClimateSetTemperature",
        "EdgedTemperatureUp",
        "EdgedTemperatureDown",
        "HassMediaPlayerMute",
        "HassMediaPlayerUnmute",
    }
)
_ALL_WORDS = ENGLISH.all_words
# On/off/toggle with no device, area or kind word acts on a guess (everything,
# or what the site touched last). Only when the words themselves say switch:
# chatter the model mistakes for HassTurnOff ("erase all", "clear out the
# problem", "delete that") must not turn the house off.
_SWITCH_INTENTS = frozenset({"HassTurnOn", "HassTurnOff", "HassToggle"})
_SWITCH_WORDS = ENGLISH.switch_words

# Words that say an operation. An on/off whose target is a guess (a name
# only the gazetteer found, an area's implicit group) needs one: "the kettle
# is boiling" and "i'm in the garden" ask for nothing.
_SWITCH_OP_WORDS = ENGLISH.switch_op_words

# Canonical NLU domains -> configured kinds.
_DOMAIN_KIND: Mapping[str, str] = MappingProxyType(
    {
        "light": "light",
        "switch": "switch",
        "fan": "fan",
        "cover": "cover",
        "lock": "lock",
        "climate": "climate",
        "media_player": "media_player",
        "vacuum": "vacuum",
        "sensor": "sensor",
        "binary_sensor": "sensor",
        "alarm": "alarm",
        "alarm_control_panel": "alarm",
    }
)
# Kind words for what a door or gate may be, when said after a name.
_DOOR_WORDS = ENGLISH.door_words
# Words that end a spoken name and make it a group ("kitchen lights").
_DOMAIN_WORDS = ENGLISH.kind_words

_ON_OP = MappingProxyType(
    {"cover": "open", "lock": "lock", "vacuum": "vacuum_start", "alarm": "arm"}
)
_OFF_OP = MappingProxyType(
    {"cover": "close", "lock": "unlock", "vacuum": "vacuum_dock", "alarm": "disarm"}
)
_FIXED_OP = MappingProxyType(
    {
        "HassToggle": "toggle",
        "HassClimateGetTemperature": "query",
        "HassGetState": "query",
        "HassMediaPause": "pause",
        "HassMediaUnpause": "resume",
        "HassMediaNext": "next",
        "HassMediaPrevious": "previous",
        "HassVacuumStart": "vacuum_start",
        "HassVacuumReturnToBase": "vacuum_dock",
        "HassMediaPlayerMute": "mute",
        "HassMediaPlayerUnmute": "unmute",
    }
)
# Intents that only make sense for some devices: used to pick group members and
# the only device that fits when nothing was named.
_INTENT_FITS: Mapping[str, Callable[[Device], bool]] = MappingProxyType(
    {
        "HassLightSet": lambda d: d.kind == "light",
        "EdgedLightBrighten": lambda d: d.kind == "light",
        "EdgedLightDim": lambda d: d.kind == "light",
        "HassClimateSetTemperature": lambda d: d.kind == "climate",
        "HassClimateGetTemperature": lambda d: (
            d.kind == "climate" or d.device_class == "temperature"
        ),
        "HassSetPosition": lambda d: d.kind == "cover",
        "HassMediaPause": lambda d: d.kind == "media_player",
        "HassMediaUnpause": lambda d: d.kind == "media_player",
        "HassMediaNext": lambda d: d.kind == "media_player",
        "HassMediaPrevious": lambda d: d.kind == "media_player",
        "HassSetVolume": lambda d: d.kind == "media_player",
        "EdgedVolumeUp": lambda d: d.kind == "media_player",
        "EdgedVolumeDown": lambda d: d.kind == "media_player",
        "HassVacuumStart": lambda d: d.kind == "vacuum",
        "HassVacuumReturnToBase": lambda d: d.kind == "vacuum",
        "HassFanSetSpeed": lambda d: d.kind == "fan",
        "HassMediaPlayerMute": lambda d: d.kind == "media_player",
        "HassMediaPlayerUnmute": lambda d: d.kind == "media_player",
        "EdgedTemperatureUp": lambda d: d.kind == "climate",
        "EdgedTemperatureDown": lambda d: d.kind == "climate",
    }
)
# Media commands that name no player go to one player, chosen by
# `_choose_player`, never to every player in the room.
_MEDIA_INTENTS = frozenset(
    {
        "HassMediaPause",
        "HassMediaUnpause",
        "HassMediaNext",
        "HassMediaPrevious",
        "HassSetVolume",
        "EdgedVolumeUp",
        "EdgedVolumeDown",
        "HassMediaPlayerMute",
        "HassMediaPlayerUnmute",
    }
)
# What "turn on/off the kitchen" covers when no domain was said.
_IMPLICIT_KINDS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "HassTurnOn": frozenset({"light"}),
        "HassToggle": frozenset({"light"}),
        "HassTurnOff": frozenset({"light", "switch", "fan", "media_player"}),
    }
)
SUPPORTED_INTENTS = frozenset(
    {
        "HassTurnOn",
        "HassTurnOff",
        "HassLightSet",
        "EdgedLightBrighten",
        "EdgedLightDim",
        "HassClimateSetTemperature",
        "HassSetPosition",
        "HassSetVolume",
        "EdgedVolumeUp",
        "EdgedVolumeDown",
        "EdgedTemperatureUp",
        "EdgedTemperatureDown",
        "HassFanSetSpeed",
        "HassNevermind",
        *_FIXED_OP,
    }
)
# A spoken phrase that is a device's name or alias, word for word.
EXACT_NAME_SCORE = 99.0
DEFAULT_BRIGHTNESS_STEP = 20
DEFAULT_VOLUME_STEP = 10

# "say the Front Door by name to <verb> it"
_CANT_OP: Mapping[str, str] = MappingProxyType(
    {
        "lock": "lock",
        "unlock": "unlock",
        "open": "open",
        "close": "close",
        "position": "move",
        "arm": "arm",
        "disarm": "disarm",
        "stop": "stop",
        "query": "ask about",
    }
)
# "the Kitchen Plug can't <phrase>"
_CANT: Mapping[str, str] = MappingProxyType(
    {
        "on": "be turned on",
        "off": "be turned off",
        "toggle": "be toggled",
        "brightness": "be dimmed",
        "brightness_step": "be dimmed",
        "color": "change colour",
        "color_temp": "change colour temperature",
        "temperature": "be set to a temperature",
        "position": "be set to a position",
        "open": "be opened",
        "close": "be closed",
        "stop": "be stopped",
        "pause": "be paused",
        "resume": "be resumed",
        "next": "skip forward",
        "previous": "skip back",
        "volume": "change volume",
        "lock": "be locked",
        "unlock": "be unlocked",
        "vacuum_start": "start cleaning",
        "vacuum_dock": "return to its dock",
        "query": "report its state",
        "speed": "change speed",
        "arm": "be armed",
        "disarm": "be disarmed",
        "mute": "be muted",
        "unmute": "be unmuted",
        "temperature_step": "be set to a temperature",
    }
)


# --- slot values -------------------------------------------------------------------


class _Invalid(Exception):
    pass


def _slot_words(slot: Slot) -> str:
    return slot.value if isinstance(slot.value, str) and slot.value.strip() else slot.text


def _percent(parse: Parse, name: str) -> int | None:
    slot = parse.slot(name)
    if slot is None:
        return None
    v = slot.value
    if isinstance(v, bool) or not isinstance(v, int | float) or not float(v).is_integer():
        raise _Invalid(f"I didn't get a number for the {name.replace('_', ' ')} ({slot.text!r})")
    if not 0 <= v <= 100:
        raise _Invalid(f"{name.replace('_', ' ')} must be between 0 and 100 (got {v:g})")
    return int(v)


def _temperature(parse: Parse) -> float | None:
    slot = parse.slot("temperature")
    if slot is None:
        return None
    v = slot.value
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _Invalid(f"I didn't get a temperature from {slot.text!r}")
    return float(v)


def _color(parse: Parse) -> tuple[str, dict[str, Any]] | None:
    slot = parse.slot("color")
    if slot is None:
        return None
    v = slot.value
    if isinstance(v, Mapping):
        rgb = v.get("rgb")
        if (
            isinstance(rgb, Sequence)
            and len(rgb) == 3
            and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in rgb)
        ):
            return "color", {"rgb": [int(c) for c in rgb]}
        kelvin = v.get("kelvin")
        if (
            isinstance(kelvin, int | float)
            and not isinstance(kelvin, bool)
            and 1000 <= kelvin <= 12000
        ):
            return "color_temp", {"kelvin": int(kelvin)}
    raise _Invalid(f"I don't know the colour {slot.text!r}")


def _volume_step(parse: Parse) -> int:
    """The spoken volume step, or the default: "crank up the volume" tags
    "up" as the step, which is a direction, not a missing number."""
    slot = parse.slot("volume_step")
    if slot is None or isinstance(slot.value, bool) or not isinstance(slot.value, int | float):
        return DEFAULT_VOLUME_STEP
    step = _percent(parse, "volume_step")
    return step or DEFAULT_VOLUME_STEP


def _temperature_step(parse: Parse, *, up: bool) -> tuple[str, dict[str, Any]]:
    """A relative setpoint change: the spoken step ("by 2 degrees") or, as
    {"direction"}, the device's own (`_from_state` makes it absolute)."""
    slot = parse.slot("temperature")
    sign = 1 if up else -1
    if (
        slot is not None
        and isinstance(slot.value, int | float)
        and not isinstance(slot.value, bool)
    ):
        step = abs(float(slot.value))
        if not 0 < step <= 10:
            raise _Invalid(f"a step of {step:g} degrees is not one I will take (at most 10)")
        return "temperature_step", {"step": sign * step}
    return "temperature_step", {"direction": sign}


# "Turn the heating up", "turn the bedroom heating down": relative words the
# NLU files under brightness or volume, said of a thermostat, move its setpoint.
_CLIMATE_RELATIVE: Mapping[str, bool] = MappingProxyType(
    {
        "EdgedTemperatureUp": True,
        "EdgedTemperatureDown": False,
        "EdgedLightBrighten": True,
        "EdgedLightDim": False,
        "EdgedVolumeUp": True,
        "EdgedVolumeDown": False,
    }
)


def _device_ops(intent: str, kind: str, parse: Parse) -> list[tuple[str, dict[str, Any]]]:
    """The ops (with params) that carry out `intent` on a device of `kind`."""
    if kind == "climate" and intent in _CLIMATE_RELATIVE:
        return [_temperature_step(parse, up=_CLIMATE_RELATIVE[intent])]
    if intent == "HassTurnOn":
        return [(_ON_OP.get(kind, "on"), {})]
    if intent == "HassTurnOff":
        return [(_OFF_OP.get(kind, "off"), {})]
    if intent in _FIXED_OP:
        return [(_FIXED_OP[intent], {})]
    if intent == "HassLightSet":
        ops: list[tuple[str, dict[str, Any]]] = []
        color = _color(parse)
        if color is not None:
            ops.append(color)
        brightness = _percent(parse, "brightness")
        if brightness is not None:
            ops.append(("brightness", {"brightness": brightness}))
        if not ops:
            raise _Invalid("what should the light be set to? I heard no brightness or colour")
        return ops
    if intent in ("EdgedLightBrighten", "EdgedLightDim"):
        step = _percent(parse, "brightness")
        if step is None:
            step = _percent(parse, "percentage")
        step = DEFAULT_BRIGHTNESS_STEP if step is None else step
        return [("brightness_step", {"step": step if intent == "EdgedLightBrighten" else -step})]
    if intent == "HassClimateSetTemperature":
        t = _temperature(parse)
        if t is None:
            raise _Invalid("what temperature? I heard none")
        return [("temperature", {"temperature": t})]
    if intent == "HassSetPosition":
        p = _percent(parse, "position")
        if p is None:
            raise _Invalid("what position? I heard none")
        return [("position", {"position": p})]
    if intent == "HassSetVolume":
        vol = _percent(parse, "volume_level")
        if vol is None:
            raise _Invalid("what volume? I heard none")
        return [("volume", {"volume": vol})]
    if intent in ("EdgedVolumeUp", "EdgedVolumeDown"):
        step = _volume_step(parse)
        return [("volume", {"step": step if intent == "EdgedVolumeUp" else -step})]
    if intent in ("EdgedTemperatureUp", "EdgedTemperatureDown"):
        # Not a thermostat (a group member or a device named for another
        # kind): the op it cannot do is reported as such.
        return [_temperature_step(parse, up=intent == "EdgedTemperatureUp")]
    if intent == "HassFanSetSpeed":
        pct = _percent(parse, "percentage")
        if pct is None:
            raise _Invalid("what speed? I heard none")
        return [("speed", {"percentage": pct})]
    raise _Invalid(f"edged does not handle {intent}")


# --- targets -----------------------------------------------------------------------


How = Literal["name", "kind", "area", "context", "only"]


@dataclass(slots=True)
class _Targets:
    devices: list[Device]
    # Picked implicitly (area without domain, context): leave sensitive ops out.
    implicit: bool = False
    where: str = ""
    # How the devices were found. Sensitive devices (locks, garage doors,
    # gates, alarms) are only targeted by their name or kind ("name", "kind"),
    # never through an area's group, context or being the only one that fits.
    how: How = "name"
    # Found by a name said in part or misheard, not the whole name.
    partial: bool = False


class _Failed(Exception):
    def __init__(self, reason: ResolveReason, message: str, unresolved: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reason: ResolveReason = reason
        self.unresolved = list(unresolved)


def _the(device: Device) -> str:
    return f"the {device.name}"


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _find_areas(parse: Parse, home: Home) -> list[Area] | None:
    """Areas said (directly or as a floor); None when no place was said."""
    area_slots, floor_slots = parse.slots_named("area"), parse.slots_named("floor")
    if not area_slots and not floor_slots:
        return None
    areas: list[Area] = []
    for slot in area_slots:
        words = _slot_words(slot)
        m = home.match_area(words)
        if m.status == "ambiguous":
            raise _Failed("ambiguous", f"which area: {_either([a.name for a in m.items])}?")
        if m.found is None:
            raise _Failed("unknown_area", f"I don't know an area called '{words}'", [words])
        areas.append(m.found)
    for slot in floor_slots:
        words = _slot_words(slot)
        fm = home.match_floor(words)
        if fm.status == "ambiguous":
            raise _Failed("ambiguous", f"which floor: {_either([f.name for f in fm.items])}?")
        if fm.found is None:
            raise _Failed("unknown_floor", f"I don't know a floor called '{words}'", [words])
        on_floor = home.areas_on_floor(fm.found.id)
        if not on_floor:
            raise _Failed("no_target", f"there are no areas on the {fm.found.name}")
        areas += on_floor
    return list({a.id: a for a in areas}.values())


def _place(areas: Sequence[Area]) -> str:
    return "the " + _either([a.name for a in areas])


def _kind_filter(parse: Parse) -> tuple[str | None, str | None]:
    kind = device_class = None
    domain = parse.slot("domain")
    if domain is not None:
        words = _slot_words(domain).lower().replace(" ", "_")
        kind = _DOMAIN_KIND.get(words)
        if kind is None:
            raise _Failed("no_target", f"edged controls no {domain.text}", [domain.text])
    dc = parse.slot("device_class")
    if dc is not None:
        device_class = _slot_words(dc).lower().replace(" ", "_")
    return kind, device_class


def _group(
    home: Home,
    area_ids: Iterable[str] | None,
    kind: str | None,
    device_class: str | None,
    intent: str,
) -> list[Device]:
    devices = home.devices_in(
        None if area_ids is None else set(area_ids), kind=kind, device_class=device_class
    )
    if kind is None and device_class is None and intent in _IMPLICIT_KINDS:
        devices = [d for d in devices if d.kind in _IMPLICIT_KINDS[intent]]
    fits = _INTENT_FITS.get(intent)
    if fits is not None and kind is None and device_class is None:
        devices = [d for d in devices if fits(d)]
    return devices


def _name_as_group(
    text: str,
    home: Home,
    areas: list[Area] | None,
    site_area: Area | None,
    intent: str,
    said: tuple[str | None, str | None],
) -> _Targets | None:
    """Read a "name" that is really an area and/or a domain: "kitchen lights",
    "lamps", "the kitchen" (with any domain/device class slot `said` too).
    None when it isn't one."""
    lang = home.language
    words = normalise_words(text, lang)
    if not words:
        return None
    word_kind, place_words = _split_kind(words, lang)
    kind, device_class = (word_kind, None) if word_kind is not None else said
    if place_words:
        m = home.match_area(" ".join(place_words))
        if m.found is None:
            return None
        place = [m.found]
    elif areas is not None:
        place = areas
    elif site_area is not None:
        place = [site_area]
    else:
        return None
    if word_kind is None and not place_words:
        return None
    implicit = kind is None and device_class is None
    return _Targets(
        _group(home, [a.id for a in place], kind, device_class, intent),
        implicit=implicit,
        where=_place(place),
        how="area" if implicit else "kind",
    )


def _split_kind(
    words: tuple[str, ...], lang: Language, table: Mapping[str, object] | None = None
) -> tuple[Any, tuple[str, ...]]:
    """(the kind word's entry in `table`, the other words) when a name ends in
    a kind word ("kitchen lights"), or begins with one in a language that
    puts it first ("lumières du salon"); (None, words) otherwise."""
    table = lang.kind_words if table is None else table
    if words and words[-1] in table:
        return table[words[-1]], words[:-1]
    if lang.head_first and words and words[0] in table:
        return table[words[0]], words[1:]
    return None, words


def _raw_words(text: str, lang: Language) -> list[str]:
    if lang.ascii_words:
        return re.sub(r"[^a-z0-9 ]+", " ", text.lower()).split()
    return lang.split(text)


def _plural_domain(text: str, lang: Language = ENGLISH) -> bool:
    raw = _raw_words(text, lang)
    if not raw:
        return False
    heads = [raw[-1]]
    if lang.head_first:
        heads += [w for w in raw if w not in lang.stopwords][:1]
    return any(lang.is_plural(w) and lang.singular(w) in lang.kind_words for w in heads)


def _kind_fits(device: Device, kind: str, spoken: Sequence[str], lang: Language = ENGLISH) -> bool:
    """A name said with a kind word ("kitchen lights", "desk fan") names a
    device of that kind, or one whose own name holds the word (a plug called
    "Floor Lamp"): never the Kitchen Thermostat for "kitchen lights"."""
    if device.kind == kind:
        return True
    own = {w for p in (device.name, *device.aliases) for w in normalise_words(p, lang)}
    return any(w in own for w in spoken if w in lang.kind_words)


def _by_name(
    slot: Slot,
    home: Home,
    areas: list[Area] | None,
    site_area: Area | None,
    intent: str,
    said: tuple[str | None, str | None],
) -> _Targets:
    words = _slot_words(slot)
    area_ids = None if areas is None else [a.id for a in areas]
    lang = home.language
    if _plural_domain(words, lang):
        as_group = _name_as_group(words, home, areas, site_area, intent, said)
        if as_group is not None and len(as_group.devices) > 1:
            return as_group
    m = home.match_device(words, area_ids=area_ids)
    spoken = normalise_words(words, lang)
    kind_said = said[0] or _split_kind(spoken, lang)[0]
    if kind_said is not None and m.items:
        fitting = [d for d in m.items if _kind_fits(d, kind_said, spoken, lang)]
        if len(fitting) == 1:
            m = NameMatch(m.query, "found", (fitting[0],), m.score)
        elif len(fitting) < len(m.items):
            m = home.match_device(words, area_ids=area_ids, kind=kind_said)
    if m.status == "none" and len(spoken) >= 2:
        # The name said with its kind: "shed door" for a door called Shed,
        # "porch light" for a light called Porch; a device of that kind only.
        kinds, rest = _split_kind(spoken, lang, lang.door_words)
        if kinds is None:
            kind, rest = _split_kind(spoken, lang)
            kinds = None if kind is None else frozenset({kind})
        if kinds:
            bare = home.match_device(" ".join(rest), area_ids=area_ids)
            if bare.found is not None and bare.found.kind in kinds:
                m = bare
    if m.status == "ambiguous" and areas is None and site_area is not None:
        here = [d for d in m.items if d.area == site_area.id]
        if len(here) == 1:
            return _Targets(here)
    if (
        m.found is not None
        and len(spoken) == 1
        and m.score < EXACT_NAME_SCORE
        and not any(
            sounds_alike(spoken[0], w, lang)
            for p in (m.found.name, *m.found.aliases)
            for w in normalise_words(p, lang)
        )
        and not _compound_name(words, m.found, home)
    ):
        # One word spelt like a name but not sounding like it ("theater" for
        # the Heater): nothing else anchors it, so it is not that device.
        m = NameMatch(m.query, "none")
    if m.found is not None:
        return _Targets([m.found], partial=m.score < EXACT_NAME_SCORE)
    as_group = _name_as_group(words, home, areas, site_area, intent, said)
    if as_group is not None and as_group.devices:
        return as_group
    if m.status == "ambiguous":
        raise _Failed("ambiguous", f"which one: {_either([_the(d) for d in m.items])}?")
    if areas is not None:
        elsewhere = home.match_device(words).found
        if elsewhere is not None:
            raise _Failed("unknown_name", f"{_the(elsewhere)} isn't in {_place(areas)}", [words])
        raise _Failed("unknown_name", f"I found no '{words}' in {_place(areas)}", [words])
    raise _Failed("unknown_name", f"I don't know a device called '{words}'", [words])


def _compound_name(text: str, device: Device, home: Home) -> bool:
    """One word that is the device's phrase run together at one of the
    language's joints ("Küchenlicht": the Licht in the Küche), which the
    gazetteer finds exactly."""
    return any(s.exact and device.id in s.devices for s in home.gazetteer.find(text))


def _kind_slot(parse: Parse) -> Slot | None:
    return parse.slot("domain") or parse.slot("device_class")


def _kind_word_as_name(parse: Parse, home: Home, kind: str | None, dc: str | None) -> Device | None:
    """A device named like its kind ("TV", "Thermostat", "heating"): the NLU
    tags the word as a domain, and with two such devices the domain alone
    cannot choose. The word read as a name can, when it names exactly one
    device of that kind. Singular only: "the lights" is a group."""
    slot = _kind_slot(parse)
    if slot is None or _plural_domain(slot.text, home.language):
        return None
    found = home.match_device(slot.text, kind=kind).found
    if found is not None and (dc is None or found.device_class == dc):
        return found
    return None


def _area_and_kind_as_name(
    parse: Parse, home: Home, areas: Sequence[Area], kind: str | None, dc: str | None
) -> Device | None:
    """ "the bedroom light" heard as area + domain, when a device in that area
    is called exactly that ("Bedroom Light"): that device, not every light
    in the bedroom. Only an exact name or alias, in the singular, with the two
    words side by side; anything less stays the group."""
    slot = _kind_slot(parse)
    if slot is None or _plural_domain(slot.text, home.language):
        return None
    for area_slot in parse.slots_named("area"):
        if area_slot.end <= slot.start and not parse.text[area_slot.end : slot.start].strip():
            spoken = parse.text[area_slot.start : slot.end]
            m = home.match_device(spoken, area_ids=[a.id for a in areas], kind=kind)
            if (
                m.found is not None
                and m.score >= EXACT_NAME_SCORE
                and (dc is None or m.found.device_class == dc)
            ):
                return m.found
    return None


def _join_split_area(parse: Parse, home: Home) -> Parse:
    """ "living room" tagged as name "living" + area "room" (at 300 devices
    "room" alone fits nine areas): two side-by-side slots, one of them an
    area, are read as one area when neither names it alone but together
    they do."""
    slots = list(parse.slots)
    i = 0
    while i + 1 < len(slots):
        a, b = slots[i], slots[i + 1]
        if (
            "area" in (a.name, b.name)
            and {a.name, b.name} <= {"area", "name"}
            and a.end <= b.start
            and not parse.text[a.end : b.start].strip()
        ):
            area = a if a.name == "area" else b
            joined = parse.text[a.start : b.end]
            if (
                home.match_area(_slot_words(area)).found is None
                and home.match_area(joined).found is not None
            ):
                merged = Slot(
                    "area", joined, a.start, b.end, joined.lower(), min(a.confidence, b.confidence)
                )
                slots[i : i + 2] = [merged]
                continue
        i += 1
    if len(slots) == len(parse.slots):
        return parse
    return replace(parse, slots=tuple(slots))


def _only_fitting(
    home: Home, intent: str, site_area: Area | None, kind: str | None, dc: str | None
) -> list[Device]:
    """The single device that fits, looked for in the site's area, then the home.
    Empty when nothing narrows the choice or more than one device fits."""
    fits = _INTENT_FITS.get(intent)
    if fits is None and kind is None and dc is None:
        return []

    def fitting(area_ids: list[str] | None) -> list[Device]:
        return [
            d
            for d in home.devices_in(area_ids, kind=kind, device_class=dc)
            if fits is None or fits(d)
        ]

    if site_area is not None:
        here = fitting([site_area.id])
        if here:
            return here if len(here) == 1 else []
    everywhere = fitting(None)
    return everywhere if len(everywhere) == 1 else []


def _plural_word(text: str, lang: Language = ENGLISH) -> bool:
    raw = _raw_words(text, lang)
    heads = raw[-1:]
    if lang.head_first:
        heads += [w for w in raw if w not in lang.stopwords][:1]
    return any(lang.is_plural(w) for w in heads)


def _names_no_player(
    parse: Parse,
    intent: str,
    names: list[Slot],
    pronoun: bool,
    kind: str | None,
    dc: str | None,
    lang: Language = ENGLISH,
) -> bool:
    """A media command with no player named ("pause", "turn the music up
    in the kitchen", "mute the speaker"), and not "all of them", a plural
    ("the speakers": a group) or "it"."""
    kind_slot = _kind_slot(parse)
    return (
        intent in _MEDIA_INTENTS
        and not names
        and not pronoun
        and kind in (None, "media_player")
        and dc is None
        and (kind_slot is None or not _plural_word(kind_slot.text, lang))
        and not set(normalise_words(parse.text, lang)) & lang.all_words
    )


_STATE_RE = ENGLISH.state_re
# Verbs that make "... is on" a command again: "make sure the heater is off".
_IMPERATIVE_WORDS = ENGLISH.imperative_words


def _states_not_asks(text: str, lang: Language = ENGLISH) -> bool:
    """ "the desk lamp is on", "the lights were off": a state reported, with
    no verb that asks for one."""
    lowered = text.lower()
    if not lang.state_re.search(lowered):
        return False
    said = re.findall(r"[a-z]+", lowered) if lang.ascii_words else lang.split(lowered)
    return not set(said) & lang.imperative_words


def _kind_said_as_noun(parse: Parse, device: Device, lang: Language = ENGLISH) -> bool:
    """A word for the device's kind said after the utterance's first word:
    "lock all the doors", "close the garage". The verb alone ("lock and
    key", "lock screen settings") does not say a lock on purpose."""
    said = tokens(parse.text, lang=lang)[1:]
    for t in said:
        if lang.kind_words.get(t.word) == device.kind or t.word == device.kind:
            return True
        if device.kind in lang.door_words.get(t.word, ()) or t.word == device.device_class:
            return True
    return False


def _unexplained_words(parse: Parse, home: Home) -> list[str]:
    """Content words of the utterance in no slot and not command words."""
    inside = [(sl.start, sl.end) for sl in parse.slots]
    lang = home.language
    return [
        t.word
        for t in home.gazetteer.tokens(parse.text)
        if not any(a <= t.start < b for a, b in inside)
        and t.word not in lang.command_words
        and t.word not in lang.pronouns
        and t.word not in lang.all_words
        and not t.word.isdigit()
    ]


# Slots a configured name may stand in for.
_TARGET_SLOTS = frozenset({"name", "area", "floor", "domain", "device_class"})


def _span_slot(span: NameSpan, over: Sequence[Slot]) -> str | None:
    """The slot a configured name's span becomes, given the model's slots
    over it; None leaves the model's reading."""
    exact = [s for s in over if s.start == span.start and s.end == span.end]
    # The model read exactly this as a place, and it is one: keep that.
    for role in ("area", "floor"):
        if role in span.roles and any(s.name == role for s in exact):
            return None
    if span.devices:
        return "name"
    # A place name. A kind the model tagged on it is not overruled ("open
    # the garage": device class garage).
    if any(s.name in ("domain", "device_class") for s in over):
        return None
    return "area" if "area" in span.roles else "floor"


def ground_names(parse: Parse, home: Home) -> Parse:
    """The model's slots, corrected by the names the home has.

    Where the text says a configured name, that span replaces the model's
    target slots over it: the longest name wins over partial tags ("desk
    lamp" over name "desk" + kind "lamp"); a device's name the model tagged
    as an area or a kind is the device ("computer", "aquarium", "bob"); a
    name the model missed is found. A model slot reaching beyond the span
    stands: the span may be part of a longer phrase ("bath room" is not the
    robot vacuum's alias "roomba")."""
    spans = home.gazetteer.find(parse.text)
    if not spans:
        return parse
    slots = list(parse.slots)
    changed = False
    for span in spans:
        over = [
            s
            for s in slots
            if s.name in _TARGET_SLOTS and s.start < span.end and span.start < s.end
        ]
        if any(s.start < span.start or s.end > span.end for s in over):
            continue
        role = _span_slot(span, over)
        if role is None:
            continue
        if [(s.name, s.start, s.end) for s in over] == [(role, span.start, span.end)]:
            continue
        new = Slot(role, span.text, span.start, span.end, span.text.lower(), 1.0)
        slots = [s for s in slots if s not in over] + [new]
        changed = True
    if not changed:
        return parse
    return replace(parse, slots=tuple(sorted(slots, key=lambda s: s.start)))


def _find_targets(
    parse: Parse,
    intent: str,
    home: Home,
    site_area: Area | None,
    context: SiteContext,
    site: str | None,
    now: float,
    state: StateView = EMPTY_STATE,
    sure: float = 0.9,
) -> _Targets:
    areas = _find_areas(parse, home)
    kind, dc = _kind_filter(parse)
    lang = home.language
    names = [s for s in parse.slots_named("name") if _slot_words(s).lower() not in lang.pronouns]
    # Whole words: "it's dark" does not refer to anything.
    said_words = (
        re.findall(r"[a-z]+(?:'[a-z]+)?", parse.text.lower())
        if lang.ascii_words
        else lang.split(parse.text)
    )
    pronoun = len(names) < len(parse.slots_named("name")) or bool(
        lang.pronoun_words & set(said_words)
    )
    # "it" with nothing remembered here cannot mean the last player touched.
    refers = pronoun and bool(context.recall(site, now))
    if _names_no_player(parse, intent, names, refers, kind, dc, lang):
        # A bare follow-up ("a bit louder" just after "turn on the radio")
        # is about the player this site just touched; a place or a kind word
        # ("mute the speaker", "pause the music in the kitchen") chooses anew.
        if areas is None and _kind_slot(parse) is None:
            plays = _INTENT_FITS[intent]
            recent = [home.devices[i] for i in context.recall(site, now) if i in home.devices]
            if recent and all(plays(d) for d in recent):
                return _Targets(recent, implicit=True, how="context")
        return _choose_player(home, intent, areas, site_area, state, _kind_slot(parse))

    if names:
        found = [_by_name(s, home, areas, site_area, intent, (kind, dc)) for s in names]
        guessed = [t for t in found if t.partial]
        if guessed and parse.confidence < sure:
            names_said = _either([_the(d) for t in guessed for d in t.devices])
            raise _Failed("ambiguous", f"did you mean {names_said}? Say its name")
        if len(found) == 1:
            return found[0]
        devices = list({d.id: d for t in found for d in t.devices}.values())
        how: How = "name" if all(t.how == "name" for t in found) else "area"
        return _Targets(devices, implicit=any(t.implicit for t in found), how=how)

    if areas is not None:
        named = _area_and_kind_as_name(parse, home, areas, kind, dc)
        if named is not None:
            return _Targets([named])
        group = _group(home, [a.id for a in areas], kind, dc, intent)
        if not group:
            what = (dc or kind or "device").replace("_", " ")
            raise _Failed("no_target", f"I found no {what} in {_place(areas)}")
        implicit = kind is None and dc is None
        return _Targets(
            group, implicit=implicit, where=_place(areas), how="area" if implicit else "kind"
        )

    said = set(normalise_words(parse.text, lang))
    if (kind or dc) and not pronoun:
        what = (dc or kind or "").replace("_", " ")
        if said & lang.all_words:
            group = _group(home, None, kind, dc, intent)
            if group:
                return _Targets(group, where="the home", how="kind")
        elif site_area is not None:
            group = _group(home, [site_area.id], kind, dc, intent)
            if group:
                return _Targets(group, where=_place([site_area]), how="kind")
        only = _only_fitting(home, intent, None, kind, dc)
        if only:
            return _Targets(only, how="kind")
        named = _kind_word_as_name(parse, home, kind, dc)
        if named is not None:
            return _Targets([named])
        if site_area is not None:
            raise _Failed("no_target", f"there's no {what} in {_place([site_area])}; which area?")
        raise _Failed("no_target", f"which {what}? Say the area or the name")

    # Nothing named, no place, no kind. Words left that no slot explains and
    # that commands are not made of name something the home does not have:
    # say so, never fall back to what was touched last ("switch off the
    # toaster" must not switch off the coffee maker).
    unexplained = _unexplained_words(parse, home)
    if unexplained and pronoun:
        # "is it on sale": "it" is not about a device when other words say
        # something the home does not explain.
        raise _Failed("no_target", "I don't know what you mean by that; say the device's name")
    if unexplained:
        what = " ".join(unexplained)
        raise _Failed("unknown_name", f"I don't know a device called '{what}'", [what])
    if intent in _SWITCH_INTENTS and not said & lang.switch_words:
        raise _Failed("no_target", "which device? Say its name or the area")
    # Everything in the home at once is the widest thing a parse can move:
    # only on a sure parse ("that's all on me" is not "turn everything on").
    if (
        not pronoun
        and said & lang.all_words
        and intent in _IMPLICIT_KINDS
        and parse.confidence >= sure
    ):
        return _Targets(
            _group(home, None, None, None, intent), implicit=True, where="the home", how="area"
        )

    # Context only when asked for: "it"/"them"/"that", or a bare follow-up
    # ("brighter", "a bit more") with nothing else in it. "on" alone is not
    # a follow-up: switching needs a device word.
    if pronoun or intent in _FOLLOW_UP_INTENTS:
        recent = [home.devices[i] for i in context.recall(site, now) if i in home.devices]
        fits = _INTENT_FITS.get(intent)
        # A bare follow-up is about the last devices only if they can do it
        # ("set the temperature to 21" after the lights is not about them).
        if recent and (pronoun or fits is None or any(fits(d) for d in recent)):
            return _Targets(recent, implicit=True, how="context")
    # "it" with nothing remembered is only safe when a single device in the
    # whole home fits; a bare "dim" may also mean the only light where it was said.
    only = _only_fitting(home, intent, None if pronoun else site_area, None, None)
    if only:
        return _Targets(only, how="only")
    if pronoun:
        raise _Failed("no_target", "I don't know what you mean by that; say the device's name")
    raise _Failed("no_target", "which device? Say its name or the area")


_QUESTIONS = frozenset({"HassGetState", "HassClimateGetTemperature"})


def _asked_about(parse: Parse, intent: str, home: Home) -> Device | None:
    """A question about a device whose name the NLU heard as something else:
    "what is the outdoor temperature" (area "outdoor") is a question about
    the Outdoor Temperature sensor. Only for questions, which move nothing,
    and only when the words name exactly one device that can answer it."""
    if intent not in _QUESTIONS:
        return None
    fits = _INTENT_FITS.get(intent)
    spoken = [_slot_words(s) for s in parse.slots if s.name in ("area", "name", "floor")]
    phrase = home.language.temperature_phrase
    phrases = (
        [phrase.format(name=w) for w in spoken] if intent == "HassClimateGetTemperature" else []
    )
    for phrase in [*phrases, *spoken]:
        m = home.match_device(phrase)
        if m.found is not None and m.found.can("query") and (fits is None or fits(m.found)):
            return m.found
    return None


def _from_state(
    device: Device, op: str, params: dict[str, Any], state: StateView
) -> dict[str, Any]:
    """Params made absolute from what the device last reported, where the op
    needs it: a setpoint step, or a volume step for a protocol that only
    takes an absolute volume. Raises _Invalid when that state is unknown:
    the new value is never guessed."""
    known = state.get(device.id)
    if op == "temperature_step":
        step = params.get("step", params.get("direction", 1) * device.temperature_step)
        setpoint = None if known is None else known.value("setpoint")
        if not isinstance(setpoint, int | float):
            raise _Invalid(f"I don't know what {_the(device)} is set to")
        o = device.options
        # Rounded only to drop float noise (20.1 + 0.2); clamped to the range.
        target = round(min(o.max_temp, max(o.min_temp, setpoint + step)), 2)
        if (target - setpoint) * step <= 0:
            # At (or beyond) the end of its range: "warmer" never lowers it.
            edge = "highest" if step > 0 else "lowest"
            raise _Invalid(f"{_the(device)} is already at {setpoint:g} degrees, its {edge}")
        return {"step": step, "temperature": target}
    if op == "volume" and "step" in params:
        volume = None if known is None else known.value("volume")
        if isinstance(volume, int | float):
            # Templates may use {volume} beside {step}: fill both when known.
            return {**params, "volume": max(0, min(100, round(volume + params["step"])))}
        if needs_known_value(op, device):
            raise _Invalid(
                f"I don't know the volume of {_the(device)}, so I can't turn it up or down"
            )
    return params


def _already(device: Device, ops: list[tuple[str, dict[str, Any]]], state: StateView) -> bool:
    """A group member that reported being in the state asked for already
    ("turn off everything": the lamps that are off are left alone). Only on
    a report: a device whose state is unknown still gets its command."""
    known = state.get(device.id)
    if known is None or len(ops) != 1 or ops[0][0] not in ("on", "off"):
        return False
    return known.value("state") == ops[0][0]


def _choose_player(
    home: Home,
    intent: str,
    areas: list[Area] | None,
    site_area: Area | None,
    state: StateView,
    kind_slot: Slot | None = None,
) -> _Targets:
    """The one player a media command that names none is for: the player in
    the area said (or the site's area), else the one that is playing (for
    "resume", the paused one), else the only one; otherwise a question.
    A kind word that is also what players are called ("mute the speaker",
    "pause the TV") picks among those so called."""
    wanted = "paused" if intent == "HassMediaUnpause" else "playing"

    def settle(pool: list[Device], where: str) -> _Targets:
        if len(pool) == 1:
            return _Targets(pool)
        busy = [
            d for d in pool if (s := state.get(d.id)) is not None and s.value("state") == wanted
        ]
        if len(busy) == 1:
            return _Targets(busy)
        raise _Failed("ambiguous", f"which one{where}: {_either([_the(d) for d in pool])}?")

    # A kind word players are called by ("speaker", "TV") narrows the choice
    # to those so called; one that none is called by ("music") does not.
    lang = home.language
    word = set(normalise_words(kind_slot.text, lang)) if kind_slot is not None else set()

    def called(pool: list[Device]) -> list[Device]:
        return [
            d
            for d in pool
            if any(word <= set(normalise_words(p, lang)) for p in (d.name, *d.aliases))
        ]

    if not word or not called(home.devices_in(None, kind="media_player")):
        word = set()
    scopes: list[tuple[list[str] | None, str]]
    if areas is not None:
        scopes = [([a.id for a in areas], f" in {_place(areas)}")]
    elif site_area is not None:
        scopes = [([site_area.id], f" in {_place([site_area])}"), (None, "")]
    else:
        scopes = [(None, "")]
    for area_ids, where in scopes:
        pool = home.devices_in(area_ids, kind="media_player")
        pool = called(pool) if word else pool
        if pool:
            return settle(pool, where)
    if areas is not None:
        raise _Failed("no_target", f"there's no media player in {_place(areas)}")
    raise _Failed("no_target", "there's no media player to do that on")


def _out_of_range(device: Device, ops: list[tuple[str, dict[str, Any]]]) -> str | None:
    for op, params in ops:
        if op == "temperature":
            t, o = params["temperature"], device.options
            if not o.min_temp <= t <= o.max_temp:
                return (
                    f"{t:g} degrees is outside {_the(device)}'s range "
                    f"({o.min_temp:g} to {o.max_temp:g})"
                )
    return None


def resolve_targets(
    parse: Parse,
    home: Home,
    site: str | None,
    context: SiteContext,
    *,
    now: float,
    state: StateView = EMPTY_STATE,
    sure: float = 0.9,
) -> Resolution:
    """The actions `parse` asks for on the configured home, or why there are none.

    `sure` (policy.sensitive_floor): a device named only in part or misheard
    is a target only in a parse at least this confident.

    `site` is the satellite the utterance came from (its id names an area, by
    id/name/alias, when it is in one); `now` is the clock the context was
    stamped with. `state` is a read-only snapshot of what devices last
    reported (edged.home.state): which player is playing, the setpoint a
    step starts from. Does not change `context`: remember executed actions there.
    """
    intent = parse.intent
    if intent is None or intent == "OutOfScope":
        return Resolution(reason="not_recognized")
    if intent == "HassNevermind":
        return Resolution(reason="nevermind")
    if intent not in SUPPORTED_INTENTS:
        return Resolution(error=f"edged does not handle {intent}", reason="unsupported_intent")
    lang = home.language
    site_area = home.area_of_site(site)
    model_named = any(s.name in _TARGET_SLOTS for s in parse.slots)
    parse = ground_names(_join_split_area(parse, home), home)
    if (
        not model_named
        and intent in _SWITCH_INTENTS
        and not set(normalise_words(parse.text, lang)) & lang.switch_op_words
    ):
        # The model saw no target and the words say no switching ("the
        # kettle is boiling"): a name in a remark is not a command.
        return Resolution(error="which device? Say its name or the area", reason="no_target")
    if intent in _SWITCH_INTENTS and _states_not_asks(parse.text, lang):
        # "the desk lamp is on" says how things are; it asks for nothing.
        return Resolution(
            error="that sounds like a statement; say turn on or off", reason="no_target"
        )
    try:
        _device_ops(intent, "light", parse)  # validates the slot values once, up front
        targets = _find_targets(
            parse, intent, home, site_area, context, site, now, state=state, sure=sure
        )
    except _Invalid as e:
        return Resolution(error=str(e), reason="invalid_value")
    except _Failed as e:
        asked = _asked_about(parse, intent, home)
        if asked is None:
            return Resolution(error=str(e), reason=e.reason, unresolved=e.unresolved)
        targets = _Targets([asked])

    if (
        targets.how == "area"
        and intent in _SWITCH_INTENTS
        and not set(normalise_words(parse.text, lang)) & lang.switch_op_words
    ):
        # A place alone ("i'm in the garden", "make the office warmer") is
        # an implicit group only when the words say to switch it.
        return Resolution(error="what should I do there? Say on or off", reason="no_target")
    actions: list[Action] = []
    problems: list[tuple[ResolveReason, str]] = []
    already = 0
    for device in targets.devices:
        ops = _device_ops(intent, device.kind, parse)
        if len(targets.devices) > 1 and _already(device, ops, state):
            already += 1
            continue
        if device.sensitive and (
            targets.how not in ("name", "kind")
            or (targets.how == "kind" and not _kind_said_as_noun(parse, device, lang))
        ):
            # Locks, garage doors, gates, alarms: only on purpose, never as
            # part of a place, through "it", or as the only one that fits.
            problems.append(
                ("no_target", f"say {_the(device)} by name to {_CANT_OP.get(ops[0][0], 'use')} it")
            )
            continue
        cant = [op for op, _ in ops if not device.can(op)]
        if cant:
            problems.append(("incapable", f"{_the(device)} can't {_CANT.get(cant[0], cant[0])}"))
            continue
        if targets.implicit and any(op in device.sensitive_ops for op, _ in ops):
            continue
        bad_value = _out_of_range(device, ops)
        if bad_value is not None:
            problems.append(("invalid_value", bad_value))
            continue
        try:
            ops = [(op, _from_state(device, op, params, state)) for op, params in ops]
        except _Invalid as e:
            problems.append(("invalid_value", str(e)))
            continue
        actions += [Action(device.id, op, dict(params)) for op, params in ops]

    # One target that can't: say why. Several: do what those that can, can.
    if not actions and already and already + len(problems) == len(targets.devices):
        where = f" in {targets.where}" if targets.where and targets.where != "the home" else ""
        word = "off" if intent == "HassTurnOff" else "on"
        return Resolution(error=f"everything{where} is already {word}", reason="no_target")
    if not actions:
        if problems and len(targets.devices) == 1:
            reason, message = problems[0]
            return Resolution(error=message, reason=reason)
        kind = targets.devices[0].kind if targets.devices else "light"
        op = _device_ops(intent, kind, parse)[0][0]
        where = f" in {targets.where}" if targets.where and targets.where != "the home" else ""
        return Resolution(
            error=f"nothing{where} can {_CANT.get(op, op)}",
            reason="incapable",
        )
    return Resolution(actions=actions)
