"""Validate custom-sentence files before any training starts.

Errors name the file and line: a YAML syntax error, a template hassil cannot
parse, a list or rule that is not defined anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

# Lists the sampler fills itself, and Home Assistant's lists and rules that
# custom sentences may use.
SUPPLIED_LISTS = frozenset(
    {
        "name",
        "area",
        "floor",
        "brightness",
        "brightness_step",
        "color",
        "temperature",
        "position",
        "volume",
        "volume_step",
        "fan_speed",
        "cover_classes",
    }
)
_LIST_REF = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_RULE_REF = re.compile(r"<([^>]+)>")


class TemplateError(ValueError):
    pass


def _line_of(raw: str, needle: str) -> int | None:
    for i, line in enumerate(raw.splitlines(), 1):
        if needle in line:
            return i
    return None


def check_sentence_file(
    path: Path, known_lists: Iterable[str] = (), known_rules: Iterable[str] = ()
) -> dict[str, Any]:
    from hassil.intents import Intents
    from hassil.parse_expression import parse_sentence

    if not path.is_file():
        raise TemplateError(f"{path}: no such file")
    raw = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "?"
        raise TemplateError(f"{path}:{where}: YAML syntax error: {getattr(e, 'problem', e)}") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("intents"), dict):
        raise TemplateError(
            f"{path}: expected a mapping with an 'intents:' section (hassil format)"
        )
    lists = set(SUPPLIED_LISTS) | set(known_lists) | set((doc.get("lists") or {}).keys())
    rules = set(known_rules) | set((doc.get("expansion_rules") or {}).keys())
    for intent, body in doc["intents"].items():
        for block in (body or {}).get("data", []) or []:
            block_lists = lists | set((block.get("lists") or {}).keys())
            block_rules = rules | set((block.get("expansion_rules") or {}).keys())
            for text in block.get("sentences", []) or []:
                line = _line_of(raw, str(text))
                where = f"{path}:{line}" if line else str(path)
                try:
                    parse_sentence(str(text))
                except Exception as e:
                    raise TemplateError(
                        f"{where}: intent {intent}: cannot parse template {text!r}: {e}"
                    ) from e
                for name in _LIST_REF.findall(str(text)):
                    if name not in block_lists:
                        raise TemplateError(
                            f"{where}: intent {intent}: list {{{name}}} is not defined"
                        )
                for name in _RULE_REF.findall(str(text)):
                    if name not in block_rules:
                        raise TemplateError(
                            f"{where}: intent {intent}: expansion rule <{name}> is not defined"
                        )
    try:
        Intents.from_dict(doc)
    except Exception as e:
        raise TemplateError(f"{path}: hassil rejects the file: {e}") from e
    return dict(doc)


def check_sentence_files(paths: Iterable[Path]) -> list[dict[str, Any]]:
    from edged.training.data import ha_intents

    ha = ha_intents()
    return [
        check_sentence_file(
            p, known_lists=ha.slot_lists.keys(), known_rules=ha.expansion_rules.keys()
        )
        for p in paths
    ]
