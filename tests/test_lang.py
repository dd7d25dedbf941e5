"""The language seam (edged.lang): each language's tables, a German home
resolved and confirmed through the same resolver, policy and replies as an
English one, and `language:` in the config choosing the tables and the model."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from edged.config import ConfigError, parse_config
from edged.engine import Engine
from edged.home.policy import PendingConfirmations, apply_policy, confirmation_reply
from edged.home.registry import Home, normalise_words
from edged.home.replies import Done, ReplyTemplates, render_reply
from edged.home.resolve import SiteContext, resolve_targets
from edged.lang import SUPPORTED, get_language
from edged.nlu.model import ModelLoadError, NluModel
from edged.nlu.types import Parse, Slot
from edged.nlu.values import (
    domain_for,
    normalise_value,
    parse_color,
    parse_number,
    parse_percent,
)

DE = get_language("de")
FR = get_language("fr")
REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "models" / "edged-nlu"


# --- the tables ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("einundzwanzig", 21),
        ("zweiundzwanzig komma fünf", 22.5),
        ("zwanzigeinhalb", 20.5),
        ("auf fünfundsiebzig Prozent", 75),
        ("hundert", 100),
        ("halb", 50),
        ("21,5 Grad", 21.5),
    ],
)
def test_german_numbers(text: str, value: float) -> None:
    assert parse_number(text, DE) == value


@pytest.mark.parametrize(
    ("code", "text", "value"),
    [
        ("fr", "vingt et un", 21),
        ("fr", "soixante-quinze pour cent", 75),
        ("fr", "vingt et un et demi", 21.5),
        ("es", "veintiuno", 21),
        ("es", "cincuenta por ciento", 50),
        ("nl", "eenentwintig", 21),
        ("nl", "vijfentwintig komma vijf", 25.5),
        ("it", "ventuno", 21),
        ("it", "ventuno e mezzo", 21.5),
    ],
)
def test_numbers_in_other_languages(code: str, text: str, value: float) -> None:
    assert parse_number(text, get_language(code)) == value


@pytest.mark.parametrize("code", SUPPORTED)
def test_number_words_read_back(code: str) -> None:
    """The training sentences' number words are what the runtime reads."""
    lang = get_language(code)
    for n in [*range(0, 130), 150, 200, 255, 999, 1000, 2700, 6500]:
        assert parse_number(lang.number_words(n), lang) == n, (code, n, lang.number_words(n))


def test_german_percent_colour_and_kinds() -> None:
    assert parse_percent("fünfzig Prozent", DE) == 50
    assert parse_color("rot", DE) == {"name": "rot", "rgb": [255, 0, 0]}
    assert parse_color("auf rotes Licht", DE)["rgb"] == [255, 0, 0]  # type: ignore[index]
    assert parse_color("warmweiß", DE) == {"name": "warmweiß", "kelvin": 2700}
    assert domain_for("die Lampen", DE) == "light"
    # The head noun ends a German compound.
    assert domain_for("Deckenlampe", DE) == "light"
    assert normalise_value("device_class", "die Rollläden", DE) == "shutter"
    # French puts the kind word first.
    assert domain_for("lampe du salon", FR) == "light"
    # English tables are not German ones.
    assert parse_color("rot") is None
    assert parse_number("einundzwanzig") is None


@pytest.mark.parametrize(
    ("code", "said", "reply"),
    [
        ("de", "ja", "yes"),
        ("de", "Ja, bitte!", "yes"),
        ("de", "nein danke", "no"),
        ("fr", "oui", "yes"),
        ("fr", "vas-y", "yes"),
        ("fr", "non merci", "no"),
        ("es", "sí", "yes"),
        ("es", "No, gracias", "no"),
        ("nl", "ja", "yes"),
        ("nl", "jawel", "yes"),
        ("nl", "nee", "no"),
        ("it", "sì", "yes"),
        ("it", "no grazie", "no"),
        ("de", "ja schalte das Licht aus", None),
    ],
)
def test_confirmation_words(code: str, said: str, reply: str | None) -> None:
    assert confirmation_reply(said, get_language(code)) == reply


def test_english_confirmation_is_not_german() -> None:
    assert confirmation_reply("ja") is None
    assert confirmation_reply("yes") == "yes"
    assert confirmation_reply("yes", DE) is None


def test_german_plurals_fold_on_both_sides() -> None:
    assert normalise_words("die Lampen in der Küche", DE) == normalise_words("Lampe in Küche", DE)
    assert normalise_words("Lichter", DE) == normalise_words("Licht", DE)
    assert DE.is_plural("lampen") and not DE.is_plural("lampe")


# --- a German home ---------------------------------------------------------------

GERMAN_HOME = """
language: de
areas:
  - {id: kueche, name: Küche}
  - {id: flur, name: Flur}
  - {id: wohnzimmer, name: Wohnzimmer}
devices:
  - {id: kuechenlicht, name: Licht, area: kueche, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Kuechenlicht}
  - {id: kuechenlampe, name: Hängelampe, area: kueche, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Haengelampe}
  - {id: flurlampe, name: Flurlampe, area: flur, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Flurlampe}
  - {id: stehlampe, name: Stehlampe, area: wohnzimmer, kind: light, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Stehlampe}
  - {id: haustuer, name: Haustür, area: flur, kind: lock, protocol: zigbee2mqtt,
     topic: zigbee2mqtt/Haustuer}
"""


@pytest.fixture(scope="module")
def german_home() -> Home:
    return Home.from_config(parse_config(GERMAN_HOME))


def _slots(text: str, **slots: tuple[str, object]) -> tuple[Slot, ...]:
    return tuple(
        Slot(name, spoken, text.index(spoken), text.index(spoken) + len(spoken), value)
        for name, (spoken, value) in slots.items()
    )


def test_german_home_gets_the_german_tables(german_home: Home) -> None:
    assert german_home.language is DE
    assert german_home.gazetteer.lang is DE


def test_schalte_das_licht_in_der_kueche_aus(german_home: Home) -> None:
    """The issue's example, as the German model would tag the sentence (area
    "Küche", kind "Licht"): the kitchen light is the device called Licht in
    the Küche (the gazetteer finds it), as "the light in the kitchen" is in
    English; "die Lampen in der Küche" are all the kitchen's lights."""
    text = "schalte das Licht in der Küche aus"
    p = Parse(
        text,
        "HassTurnOff",
        0.97,
        _slots(text, area=("Küche", "küche"), domain=("Licht", "light")),
    )
    r = resolve_targets(p, german_home, None, SiteContext(60), now=0.0)
    assert r.error is None
    assert [(a.device_id, a.op) for a in r.actions] == [("kuechenlicht", "off")]
    text = "mach die Lampen in der Küche aus"
    p = Parse(
        text,
        "HassTurnOff",
        0.97,
        _slots(text, domain=("Lampen", "light"), area=("Küche", "küche")),
    )
    r = resolve_targets(p, german_home, None, SiteContext(60), now=0.0)
    assert sorted((a.device_id, a.op) for a in r.actions) == [
        ("kuechenlampe", "off"),
        ("kuechenlicht", "off"),
    ]


def test_a_german_name_said_as_a_compound(german_home: Home) -> None:
    """ "Küchenlicht" is the Licht in the Küche (the phrase "Küche Licht"
    joined with German's linking -n-); "Flur Lampe" is the Flurlampe."""
    for text, said, device in (
        ("schalte das Küchenlicht ein", "Küchenlicht", "kuechenlicht"),
        ("mach die Flur Lampe an", "Flur Lampe", "flurlampe"),
        ("schalte die Stehlampen an", "Stehlampen", "stehlampe"),
    ):
        p = Parse(text, "HassTurnOn", 0.97, _slots(text, name=(said, said.lower())))
        r = resolve_targets(p, german_home, None, SiteContext(60), now=0.0)
        assert [(a.device_id, a.op) for a in r.actions] == [(device, "on")], text
        spans = german_home.gazetteer.find(text)
        assert [s.devices for s in spans] == [(device,)], text


def test_german_words_explain_a_command(german_home: Home) -> None:
    """German command words are not taken for a name the home lacks; a
    German word that names nothing is."""
    text = "mach bitte den Toaster aus"
    p = Parse(text, "HassTurnOff", 0.97)
    r = resolve_targets(p, german_home, None, SiteContext(60), now=0.0)
    assert r.reason == "unknown_name" and r.unresolved == ["toaster"]


def test_confirmation_with_ja(german_home: Home) -> None:
    """Unlocking the door asks in German; "ja" does it."""
    cfg = parse_config(GERMAN_HOME)
    text = "schließ die Haustür auf"
    p = Parse(text, "HassTurnOff", 0.97, _slots(text, name=("Haustür", "haustür")))
    pending = PendingConfirmations()
    r = resolve_targets(p, german_home, None, SiteContext(60), now=0.0)
    assert [(a.device_id, a.op) for a in r.actions] == [("haustuer", "unlock")]
    asked = apply_policy(
        p, r, german_home.devices, cfg.policy, now=0.0, utterance_ts=None, site="flur",
        pending=pending, language=DE,
    )  # fmt: skip
    assert asked.status == "needs_confirmation"
    assert asked.reason == "Soll ich wirklich Haustür aufschließen? Sag ja zum Bestätigen."
    yes = Parse("ja", None, 0.2)
    done = apply_policy(
        yes, resolve_targets(yes, german_home, None, SiteContext(60), now=1.0),
        german_home.devices, cfg.policy, now=1.0, utterance_ts=None, site="flur",
        pending=pending, language=DE,
    )  # fmt: skip
    assert done.status == "executed"
    assert [(a.device_id, a.op) for a in done.actions] == [("haustuer", "unlock")]


def test_german_replies() -> None:
    t = ReplyTemplates.load(DE.replies)
    off = render_reply(
        t,
        status="executed",
        reason=None,
        done=[Done("off", {}, "Licht"), Done("off", {}, "Hängelampe")],
    )
    assert off.speech == "Licht und Hängelampe ausgeschaltet."
    assert render_reply(t, status="not_recognized", reason=None).speech == (
        "Entschuldigung, das habe ich nicht verstanden."
    )
    unknown = render_reply(t, status="error", reason="I don't know a device called 'toaster'")
    assert unknown.speech == "Ich kenne kein Gerät namens toaster."


@pytest.mark.parametrize("code", SUPPORTED)
def test_every_language_says_every_error_in_its_own_words(code: str) -> None:
    """No English machine reason is spoken in another language: every
    reply file ends in a catch-all of its own."""
    lang = get_language(code)
    t = ReplyTemplates.load(lang.replies)
    said = render_reply(t, status="error", reason="something nobody wrote a rule for").speech
    if code == "en":
        assert said == "Sorry, something nobody wrote a rule for."
    else:
        assert "nobody" not in said


# --- config and model ----------------------------------------------------------------


def test_config_language_picks_tables_and_model_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGED_MODEL_DIR", raising=False)
    cfg = parse_config(GERMAN_HOME)
    assert cfg.language == "de"
    assert cfg.nlu.model_dir.name == "edged-nlu-de"
    assert cfg.wyoming.languages == ["de"]
    english = parse_config("areas: []")
    assert english.language == "en" and english.nlu.model_dir.name == "edged-nlu"
    given = parse_config("language: fr\nnlu: {model_dir: /opt/m}\n")
    assert given.nlu.model_dir == Path("/opt/m")
    with pytest.raises(ConfigError, match="not a supported language"):
        parse_config("language: xx")


def _model_copy(tmp_path: Path, language: str | None) -> Path:
    out = tmp_path / f"model-{language}"
    out.mkdir()
    for name in os.listdir(SHIPPED):
        if name != "labels.json":
            (out / name).symlink_to(SHIPPED / name)
    labels = json.loads((SHIPPED / "labels.json").read_text(encoding="utf-8"))
    if language is not None:
        labels["language"] = language
    (out / "labels.json").write_text(json.dumps(labels), encoding="utf-8")
    return out


def test_a_model_of_another_language_is_refused(tmp_path: Path) -> None:
    english = _model_copy(tmp_path, None)  # no `language`: English
    assert NluModel(english, language="en").language.code == "en"
    with pytest.raises(ModelLoadError, match=r"is for language 'en'.*not 'de'"):
        NluModel(english, language="de")
    german = _model_copy(tmp_path, "de")
    model = NluModel(german, language="de")
    assert model.language is DE
    with pytest.raises(ModelLoadError, match="is for language 'de'"):
        NluModel(german, language="en")


def test_engine_of_a_german_config(tmp_path: Path) -> None:
    """`language: de` loads the German model, tables and replies, and
    refuses an English model."""
    german = _model_copy(tmp_path, "de")
    cfg = parse_config(GERMAN_HOME + f"nlu: {{model_dir: {german}}}\n")
    engine = Engine.from_config(cfg)
    assert engine.language is DE and engine.home.language is DE
    assert engine.model.language is DE
    assert engine.replies.not_recognized.startswith("Entschuldigung")
    with pytest.raises(ModelLoadError):
        Engine.from_config(parse_config(GERMAN_HOME + f"nlu: {{model_dir: {SHIPPED}}}\n"))


# --- training data per language -------------------------------------------------------


def _shared_bench() -> Path | None:
    """../shared/bench-data beside the checkout (or beside its worktree folder)."""
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "bench-data").is_dir():
            return base / "shared" / "bench-data"
    return None


@pytest.fixture(scope="module")
def german_examples() -> list:  # type: ignore[type-arg]
    from edged.training.data import generate_examples

    counts = {"HassTurnOn": 150, "HassTurnOff": 150, "HassLightSet": 100, "HassGetState": 100}
    return generate_examples(
        seed=5, counts=counts | {"OutOfScope": 250}, per_intent=30, language="de"
    )


def test_german_training_sentences_are_german(german_examples: list) -> None:  # type: ignore[type-arg]
    from edged.nlu.schema import INTENTS

    words = [set(DE.split(e.text)) for e in german_examples]
    german = {"das", "die", "der", "den", "im", "schalte", "mach", "ein", "aus", "an", "auf"}
    german |= {"bitte", "licht", "ist", "wie", "stelle", "setze", "von", "zu", "und", "es"}
    german |= {"des", "dem", "um", "mal", "am", "vom", "zum", "ich", "du", "für", "nach"}
    german |= {"danke", "einen", "sind", "hier", "lass", "mache", "nicht", "jetzt", "wieder"}
    german |= {"prozent", "musik", "weiter", "heller", "stumm", "starte", "öffne", "lied"}
    german |= {"zur", "zurück", "wann", "warum", "mein", "meine", "unser", "schon", "gut"}
    german |= {"machen", "aufmachen", "umschalten", "dunkler", "nächste", "nächsten"}
    english = {"the", "turn", "please", "switch", "lights", "what", "set", "is"}
    assert sum(bool(w & german) for w in words) / len(words) > 0.85
    assert sum(bool(w & english) for w in words) / len(words) < 0.01
    assert {e.intent for e in german_examples} <= set(INTENTS)
    # edged's own German intents are there (templates/de), not only Home Assistant's.
    for intent in ("HassToggle", "EdgedLightBrighten", "EdgedLightDim", "EdgedTemperatureUp"):
        assert any(e.intent == intent for e in german_examples), intent


def test_german_training_slots_are_aligned(german_examples: list) -> None:  # type: ignore[type-arg]
    from edged.nlu.schema import SLOTS
    from edged.training.vocab import words_for

    numbers = unread = 0
    for e in german_examples:
        end = 0
        for s, t, name in sorted(e.spans):
            assert 0 <= s < t <= len(e.text) and s >= end, e
            said = e.text[s:t]
            assert said == said.strip() and said[-1] not in ".,!?", e
            assert name in SLOTS, e
            end = t
            if name in ("temperature", "brightness") and any(c.isalpha() for c in said):
                # number words, German ones (the noise may run two together)
                numbers += 1
                unread += parse_number(said, DE) is None and parse_color(said, DE) is None
    assert numbers > 20 and unread <= 0.05 * numbers
    rooms = {r.lower() for r in words_for("de").rooms}
    areas = [e.text[s:t].lower() for e in german_examples for s, t, n in e.spans if n == "area"]
    assert sum(a in rooms for a in areas) / len(areas) > 0.4


def test_german_training_data_never_holds_a_test_sentence(german_examples: list) -> None:  # type: ignore[type-arg]
    """Home Assistant's German test sentences are for evaluation only: a
    generated sentence that happens to be one is dropped by --exclude."""
    from edged.training.pipeline import _key, add_corpora

    bench = _shared_bench()
    if bench is None:
        pytest.skip("no ../shared/bench-data beside the checkout")
    test = bench / "ha-intents-de" / "test.jsonl"
    kept, source = add_corpora(list(german_examples), 5, exclude=[test])
    held_out = {_key(json.loads(line)["text"]) for line in test.open(encoding="utf-8")}
    assert not {_key(e.text) for e in kept} & held_out
    assert source["excluded"]["dropped"] == len(german_examples) - len(kept)


def test_other_languages_name_few_devices_by_a_kind_word_alone() -> None:
    """ "die Rollläden im Wohnzimmer" is the shutters of that room, as Home
    Assistant's sentences tag it; a device named "Rollläden" is rare, so the
    generated names are seldom a kind word alone (English keeps its bare
    nouns: "turn off the computer")."""
    import random

    from edged.training.vocab import make_name, words_for

    de = words_for("de")
    assert {"rollladen", "jalousie", "lampe", "tür"} <= de.kind_words
    assert "computer" not in de.kind_words and not words_for("en").kind_words
    rng = random.Random(3)
    names = [make_name(rng, "cover", w=de) for _ in range(3000)]
    bare = sum(n.lower() in de.kind_words for n in names) / len(names)
    assert 0.005 < bare < 0.08, bare
    # French and Spanish names never carry a room after a preposition
    # ("rideau du salon": the room is the area).
    for code in ("fr", "es", "it"):
        w = words_for(code)
        rooms = {r.lower() for r in w.rooms}
        made = [make_name(rng, "light", w=w).lower() for _ in range(2000)]
        joined = [
            n
            for n in made
            if any(f" {p} {r}" in n for p in ("du", "de la", "del", "della") for r in rooms)
        ]
        assert not joined, (code, joined[:5])


@pytest.mark.parametrize("code", ["de", "fr", "es", "nl", "it"])
def test_relative_heating_by_name_is_only_for_climate_devices(code: str) -> None:
    """ "mach das Rollo hoch" opens a cover and "augmente la lampe" brightens
    a light: edged's own warmer/cooler sentences name only climate devices."""
    import yaml

    from edged.training.data import _templates_dir

    doc = yaml.safe_load((_templates_dir(code) / "commands.yaml").read_text(encoding="utf-8"))
    for intent in ("EdgedTemperatureUp", "EdgedTemperatureDown"):
        for block in doc["intents"].get(intent, {}).get("data", []):
            if any("{name}" in s for s in block["sentences"]):
                assert block.get("requires_context", {}).get("domain") == "climate", (code, block)


@pytest.mark.parametrize("code", ["de", "fr", "es", "nl", "it"])
def test_older_home_assistant_state_questions_are_drawn_as_home_assistants(code: str) -> None:
    """The HassGetState blocks newer home-assistant-intents releases dropped
    (binary sensors by device class) are in every language's templates, as
    a Home Assistant source, and none of them is a block the installed
    package has (scripts/extract-ha-getstate.py)."""
    import yaml

    from edged.training.data import _sources, _templates_dir, ha_intents, load_own_templates

    path = _templates_dir(code) / "ha_2025_6_23_getstate.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["language"] == code and doc["edged_source"] == "ha"
    blocks = doc["intents"]["HassGetState"]["data"]
    assert blocks
    installed = {tuple(d.sentence_texts) for d in ha_intents(code).intents["HassGetState"].data}
    assert not [b for b in blocks if tuple(b["sentences"]) in installed]
    sources = _sources(load_own_templates(language=code), [], True, code)
    drawn = [s for s in sources if s.tag == "ha" and s.intent == "HassGetState"]
    assert len(drawn) == 2  # the installed package's and the older release's


def test_dutch_names_are_sometimes_one_word_with_the_room() -> None:
    """ "woonkamerthermostaat", "keukenlamp": Dutch writes a room and a device
    as one word; generated names do too, English's never."""
    import random

    from edged.training.vocab import make_name, words_for

    rng = random.Random(6)
    nl = words_for("nl")
    rooms = [r for r in nl.rooms if " " not in r]
    names = [make_name(rng, "climate", w=nl) for _ in range(600)]
    assert any(" " not in n and any(n.startswith(r) and n != r for r in rooms) for n in names)
    assert words_for("en").compound_share == 0.0
