"""edged.home.replies: the sentence and response type of every outcome,
rendered from replies.yaml, with no engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edged.home.replies import Done, ReplyTemplates, join_names, render_reply
from edged.home.state import StateAnswer


@pytest.fixture(scope="module")
def t() -> ReplyTemplates:
    return ReplyTemplates.load()


def test_names_are_joined_as_spoken() -> None:
    assert join_names(["Kitchen Light"]) == "the Kitchen Light"
    assert join_names(["Kitchen Light", "Hall Lamp"]) == "the Kitchen Light and the Hall Lamp"
    assert join_names(["A", "B", "C"]) == "the A, the B and the C"
    assert join_names(["A", "A", "B"]) == "the A and the B"
    assert join_names(["The Den"]) == "The Den"
    assert join_names([f"L{i}" for i in range(7)]) == "the L0, the L1, the L2 and 4 more devices"


def test_done_sentences_name_the_devices(t: ReplyTemplates) -> None:
    r = render_reply(t, status="executed", reason=None, done=[Done("off", {}, "Kitchen Light")])
    assert (r.speech, r.response_type) == ("Turned off the Kitchen Light.", "action_done")
    r = render_reply(
        t,
        status="executed",
        reason=None,
        done=[Done("on", {}, "Kitchen Light"), Done("on", {}, "Hall Lamp")],
    )
    assert r.speech == "Turned on the Kitchen Light and the Hall Lamp."
    r = render_reply(
        t,
        status="executed",
        reason=None,
        done=[Done("brightness", {"brightness": 50.0}, "Desk Lamp")],
    )
    assert r.speech == "Set the Desk Lamp to 50% brightness."
    # Two ops in one request: both said.
    r = render_reply(
        t,
        status="executed",
        reason=None,
        done=[Done("on", {}, "Desk Lamp"), Done("color", {"rgb": [255, 0, 0]}, "Desk Lamp")],
    )
    assert r.speech == "Turned on the Desk Lamp, and changed the colour of the Desk Lamp."


def test_a_value_the_action_lacks_falls_back_without_losing_the_names(t: ReplyTemplates) -> None:
    # Volume by a step has no level to say.
    r = render_reply(t, status="executed", reason=None, done=[Done("volume", {"step": -10}, "TV")])
    assert r.speech == "Changed the volume of the TV."
    # Different levels on two lamps: no single value to say.
    r = render_reply(
        t,
        status="executed",
        reason=None,
        done=[
            Done("brightness", {"brightness": 20}, "A"),
            Done("brightness", {"brightness": 80}, "B"),
        ],
    )
    assert r.speech == "Changed the A and the B."
    r = render_reply(t, status="executed", reason=None, done=[Done("frobnicate", {}, "Fan")])
    assert r.speech == "Changed the Fan."
    r = render_reply(t, status="executed", reason=None, done=[Done("publish", {}, None)])
    assert r.speech == "Done."


def test_questions_are_answered_from_state(t: ReplyTemplates) -> None:
    door = StateAnswer("garage_door", "Garage Door", "state", "closed", None, 3.0)
    r = render_reply(t, status="executed", reason=None, answers=[door])
    assert (r.speech, r.response_type) == ("The Garage Door is closed.", "query_answer")
    temp = StateAnswer("outdoor", "Outdoor Temperature", "temperature", 12.0, "°C", 1.0)
    r = render_reply(t, status="executed", reason=None, answers=[temp])
    assert r.speech == "The Outdoor Temperature is 12 °C."
    temp = StateAnswer("outdoor", "Outdoor Temperature", "temperature", 4.5, "°C", 1.0)
    r = render_reply(t, status="executed", reason=None, answers=[temp])
    assert r.speech == "The Outdoor Temperature is 4.5 °C."
    unknown = StateAnswer("lamp", "Hall Lamp", "state")
    r = render_reply(t, status="executed", reason=None, answers=[door, unknown])
    assert r.speech == (
        "The Garage Door is closed. "
        "I don't know the state of the Hall Lamp: it hasn't reported it yet."
    )


def test_confirmation_refusal_and_not_recognised(t: ReplyTemplates) -> None:
    prompt = "Do you want to unlock the Front Door? Say yes to confirm."
    r = render_reply(t, status="needs_confirmation", reason=prompt)
    assert (r.speech, r.response_type) == (prompt, "query_answer")
    r = render_reply(t, status="refused", reason="not allowed by voice: unlock the Front Door")
    assert (r.speech, r.response_type) == (
        "Sorry, I'm not allowed to unlock the Front Door by voice.",
        "error",
    )
    for reason in ("not recognised", "confidence 0.31 below floor 0.5", None):
        r = render_reply(t, status="not_recognized", reason=reason)
        assert (r.speech, r.response_type) == ("Sorry, I couldn't understand that.", "error")
    r = render_reply(
        t,
        status="not_recognized",
        reason="confidence 0.71 below the floor for unlock the Front Door (0.9); say it again",
    )
    assert r.speech == "Sorry, I'm not sure I heard that right. Please say it again."
    r = render_reply(t, status="executed", reason="cancelled")
    assert (r.speech, r.response_type) == ("Okay, cancelled.", "action_done")


@pytest.mark.parametrize(
    ("reason", "speech"),
    [
        ("stale: 42s old (max 10s); dropped, not executed late", "Sorry, that reached me too late, so I did nothing."),
        ("overloaded: too many utterances queued; this one was not handled, try again", "Sorry, I'm busy right now. Please say it again."),
        ("broken JSON: Expecting value at line 1 column 2", "Sorry, I couldn't read that request."),
        ("payload too large: 20000 bytes (limit 16384)", "Sorry, I couldn't read that request."),
        ("edged does not handle HassStartTimer", "Sorry, I can't do that yet."),
        ("the broker refused Lamp: not authorized: not done", "Sorry, that may not have been done; the command did not get through."),
        ("no acknowledgement for Lamp: it may not have gone out", "Sorry, that may not have been done; the command did not get through."),
        ("nothing was done: the journal cannot be written (disk full); edged sends no command it cannot record", "Sorry, I can't act right now; nothing was done."),
        ("which device? Say its name or the area", "Sorry, which device? Say its name or the area."),
        ("the Hall Lamp can't be dimmed", "Sorry, the Hall Lamp can't be dimmed."),
    ],
)  # fmt: skip
def test_errors_in_plain_words(t: ReplyTemplates, reason: str, speech: str) -> None:
    r = render_reply(t, status="error", reason=reason)
    assert (r.speech, r.response_type) == (speech, "error")


def test_a_render_failure_does_not_read_out_config_internals(t: ReplyTemplates) -> None:
    r = render_reply(
        t, status="error", reason="lamp: 'brightness' needs command_topics.x", render_failed=True
    )
    assert r.speech == "Sorry, something went wrong sending that command."
    assert "command_topics" not in r.speech


def test_a_broken_template_file_is_refused_when_loaded(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    text = (Path(__file__).parents[1] / "edged/home/replies.yaml").read_text()
    path.write_text(text.replace('  - match: "^stale:"', '  - match: "^(stale"'))
    with pytest.raises(ValidationError):
        ReplyTemplates.load(path)
    path.write_text(text.replace("  default: Done ", "  fallback: Done "))
    with pytest.raises(ValidationError, match="default"):
        ReplyTemplates.load(path)
