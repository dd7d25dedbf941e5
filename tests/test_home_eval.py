"""The held-out home (tests/homes/plain_home.yaml, written before the
gazetteer work) through the real engine and the shipped model: no command
moves a device it did not name, no remark or unknown name moves anything.
Runs bench/home_eval.py's evaluator, so the figures it prints are these."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

import home_eval  # noqa: E402

CASES = home_eval.read_cases(home_eval.PLAIN_CASES)


@pytest.fixture(scope="module")
def report() -> home_eval.Report:
    from edged.nlu.model import NluModel

    engine = home_eval.build_engine(str(home_eval.PLAIN_HOME), NluModel(None))
    return home_eval.evaluate(engine, CASES, start=1_000_000.0)


def test_the_cases_are_a_fair_test() -> None:
    kinds = [c["expect"] for c in CASES]
    assert kinds.count("act") >= 150 and kinds.count("none") >= 50
    assert kinds.count("unknown") >= 10


@pytest.mark.parametrize("i", range(len(CASES)), ids=[c["text"] for c in CASES])
def test_no_wrong_device_and_no_remark_acted_on(report: home_eval.Report, i: int) -> None:
    r = report.results[i]
    assert not r.wrong_device, r.to_dict()
    assert not r.acted_on_remark, r.to_dict()


def test_unknown_names_are_answered(report: home_eval.Report) -> None:
    for r in report.results:
        if r.case["expect"] == "unknown":
            assert r.right and r.error, r.to_dict()


def test_commands_right(report: home_eval.Report) -> None:
    # Reported by bench/home_eval.py (95.6 % with the model in the tree and
    # device state merged, 2 more waiting for state); this floor only
    # catches a collapse, it is not the target.
    s = report.summary()
    assert s["commands_right"] / s["commands"] >= 0.93, s
