"""Crowd-sourced corpora mapped to edged's schema (edged.training.corpora),
and held-out texts kept out of training (edged.training.pipeline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edged.eval import INTENT_MAPS
from edged.nlu.schema import INTENTS, OUT_OF_SCOPE
from edged.training.corpora import DEVICE_INTENTS, corpus_examples, map_row, read_corpus
from edged.training.pipeline import _key, excluded_texts


def _row(text: str, intent: str, *slots: tuple[str, str]) -> dict:
    out = []
    for name, value in slots:
        start = text.index(value)
        out.append({"name": name, "value": value, "start": start, "end": start + len(value)})
    return {"text": text, "intent": intent, "slots": out, "source": "hwu64"}


def _spans(ex) -> set[tuple[str, str]]:
    return {(ex.text[s:e], n) for s, e, n in ex.spans}


def test_the_iot_map_is_the_one_eval_scores_with() -> None:
    for k, v in INTENT_MAPS["slurp-iot"].items():
        assert DEVICE_INTENTS[k] == v
    assert set(DEVICE_INTENTS.values()) <= set(INTENTS)


def test_device_rows_and_their_slots() -> None:
    ex = map_row(
        _row("turn off the living room lights", "iot_hue_lightoff", ("house_place", "living room"))
    )
    assert ex is not None and ex.intent == "HassTurnOff"
    assert _spans(ex) == {("living room", "area"), ("lights", "domain")}

    ex = map_row(
        _row("power off wemo plug socket", "iot_wemo_off", ("device_type", "wemo plug socket"))
    )
    assert ex is not None and _spans(ex) == {("wemo plug socket", "name")}

    ex = map_row(
        _row("start the vacuum cleaner", "iot_cleaning", ("device_type", "vacuum cleaner"))
    )
    assert ex is not None and ex.intent == "HassVacuumStart"
    assert _spans(ex) == {("vacuum cleaner", "domain")}

    ex = map_row(_row("make my lights green", "iot_hue_lightchange", ("color_type", "green")))
    assert ex is not None and ex.intent == "HassLightSet" and ("green", "color") in _spans(ex)
    # Not a colour edged knows: no colour slot, still a light setting.
    ex = map_row(
        _row("turn the lights on party mode", "iot_hue_lightchange", ("color_type", "party mode"))
    )
    assert (
        ex is not None and ex.intent == "HassLightSet" and "color" not in {n for _, n in _spans(ex)}
    )

    ex = map_row(_row("i'd like an espresso", "iot_coffee"))
    assert ex is not None and ex.intent == "HassTurnOn" and _spans(ex) == {("espresso", "name")}


def test_audio_rows() -> None:
    assert map_row(_row("turn it up a bit", "audio_volume_up")).intent == "EdgedVolumeUp"
    assert map_row(_row("quieter please", "audio_volume_down")).intent == "EdgedVolumeDown"
    assert map_row(_row("mute the speakers", "audio_volume_mute")).intent == "HassMediaPlayerMute"
    assert (
        map_row(_row("unmute the speakers", "audio_volume_mute")).intent == "HassMediaPlayerUnmute"
    )


def test_an_absolute_amount_makes_a_set_and_an_unreadable_one_is_dropped() -> None:
    ex = map_row(
        _row("dim the lights to 20 percent", "iot_hue_lightdim", ("change_amount", "to 20 percent"))
    )
    assert (
        ex is not None
        and ex.intent == "HassLightSet"
        and ("20 percent", "brightness") in _spans(ex)
    )
    ex = map_row(
        _row("volume to fifty percent", "audio_volume_up", ("change_amount", "to fifty percent"))
    )
    assert ex is not None and ex.intent == "HassSetVolume"
    assert ("fifty percent", "volume_level") in _spans(ex)
    assert (
        map_row(
            _row(
                "raise volume to level seven",
                "audio_volume_up",
                ("change_amount", "to level seven"),
            )
        )
        is None
    )


def test_requests_for_later_and_contradictions_are_dropped() -> None:
    assert map_row(_row("start the vacuum at five pm", "iot_cleaning", ("time", "five pm"))) is None
    assert map_row(_row("lights out", "iot_hue_lighton")) is None


def test_other_scenarios_are_out_of_scope_unless_they_are_an_edged_command() -> None:
    ex = map_row(_row("what's the weather in paris", "weather_query"))
    assert ex is not None and ex.intent == OUT_OF_SCOPE and ex.spans == []
    assert map_row(_row("please skip to the next song", "music_settings")) is None
    assert map_row(_row("would you just cancel it please", "general_commandstop")) is None


def test_evaluation_sets_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "slurp" / "test.jsonl"
    path.parent.mkdir()
    path.write_text(json.dumps(_row("hello", "general_greet")) + "\n")
    with pytest.raises(ValueError, match="evaluation"):
        list(read_corpus(path))


def test_corpus_examples_skip_seen_texts_and_cap_out_of_scope(tmp_path: Path) -> None:
    rows = [_row(f"tell me fact number {i}", "qa_factoid") for i in range(10)]
    rows += [
        _row("turn the lights off", "iot_hue_lightoff"),
        _row("Tell me fact number 3", "qa_factoid"),
    ]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = corpus_examples([path], seen={"tell me fact number 0"}, max_out_of_scope=4)
    assert sum(e.intent == OUT_OF_SCOPE for e in out) == 4
    assert [e.intent for e in out if e.intent != OUT_OF_SCOPE] == ["HassTurnOff"]
    assert all(e.text != "tell me fact number 0" for e in out)


def test_excluded_texts_compare_words_only(tmp_path: Path) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps({"text": "Calm down!", "intent": OUT_OF_SCOPE}) + "\n")
    banned = excluded_texts([path])
    assert _key("calm down") in banned and _key("CALM, down") in banned
    assert _key("calm down now") not in banned
