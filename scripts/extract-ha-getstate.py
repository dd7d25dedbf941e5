#!/usr/bin/env python3
"""Home Assistant's HassGetState templates that newer releases dropped.

home-assistant-intents 2025.6.23 carried state questions about binary
sensors by device class ("is any battery low?", "lädt irgendein Akku?",
"ist etwas im Büro kalt?"), people and more; later releases no longer do,
but Home Assistant's test sentences (`ha-intents-<code>/test.jsonl`) still
ask them. This writes the blocks of that release's `data/<code>.json` that
the installed package lacks, with every list and expansion rule they use
(transitively), as a training-template file sampled like the installed
package's own templates (`edged_source: ha`).

    pip download --no-deps home-assistant-intents==2025.6.23 -d /tmp/hai
    python scripts/extract-ha-getstate.py --wheel /tmp/hai/home_assistant_intents-2025.6.23-py3-none-any.whl \\
        --language de --out edged/training/templates/de/ha_2025_6_23_getstate.yaml

The templates are CC BY 4.0 (Home Assistant / Open Home Foundation and
contributors); the header of the written file says so.
"""

from __future__ import annotations

import argparse
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import yaml

RELEASE = "2025.6.23"
_RULE = re.compile(r"<([^<>]+)>")
_LIST = re.compile(r"\{([^{}:]+)(?::[^{}]*)?\}")


def _blocks_of_installed(language: str) -> set[str]:
    from home_assistant_intents import get_intents

    data = get_intents(language) or {}
    blocks = data.get("intents", {}).get("HassGetState", {}).get("data", [])
    return {_key(b) for b in blocks}


def _key(block: dict[str, Any]) -> str:
    return json.dumps(
        {k: block.get(k) for k in ("sentences", "slots", "requires_context")}, sort_keys=True
    )


def _used(texts: list[str], rules: dict[str, str]) -> tuple[set[str], set[str]]:
    """Expansion rules and lists the texts reach, following rules into rules."""
    seen_rules: set[str] = set()
    lists: set[str] = set()
    todo = list(texts)
    while todo:
        text = todo.pop()
        lists |= set(_LIST.findall(text))
        for name in _RULE.findall(text):
            if name in rules and name not in seen_rules:
                seen_rules.add(name)
                todo.append(rules[name])
    return seen_rules, lists


def extract(wheel: Path, language: str) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as z:
        data = json.loads(z.read(f"home_assistant_intents/data/{language}.json"))
    have = _blocks_of_installed(language)
    blocks = []
    for block in data["intents"]["HassGetState"]["data"]:
        if _key(block) in have:
            continue
        blocks.append({k: v for k, v in block.items() if k != "response"})
    rules = data.get("expansion_rules", {})
    texts = [s for b in blocks for s in b["sentences"]]
    for b in blocks:
        texts += [str(v) for v in (b.get("expansion_rules") or {}).values()]
    used_rules, used_lists = _used(texts, rules)
    # A list's values may use rules too ("in: '<artikel> Akku'").
    all_lists = data.get("lists", {})
    list_texts = [json.dumps(all_lists[n]) for n in used_lists if n in all_lists]
    more_rules, _ = _used(list_texts, rules)
    used_rules |= more_rules
    return {
        "language": language,
        "edged_source": "ha",
        "intents": {"HassGetState": {"data": blocks}},
        "lists": {n: all_lists[n] for n in sorted(used_lists) if n in all_lists},
        "expansion_rules": {n: rules[n] for n in sorted(used_rules)},
    }


HEADER = """\
# Home Assistant's {language} HassGetState templates from home-assistant-intents
# {release} (PyPI) that later releases no longer carry: state questions about
# binary sensors by device class (batteries, charging, cold, hot, connectivity,
# problems, ...), people and more. Only the blocks missing from the installed
# package are kept, with the lists and expansion rules they use.
# Source: https://pypi.org/project/home-assistant-intents/{release}/ (data/{language}.json)
# Licence: CC BY 4.0, Home Assistant / Open Home Foundation and contributors.
# Written by scripts/extract-ha-getstate.py; sampled as a Home Assistant
# source (tag "ha"), like the installed package's own templates.
"""


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--wheel", type=Path, required=True, help=f"home-assistant-intents {RELEASE} wheel"
    )
    ap.add_argument("--language", required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    doc = extract(args.wheel, args.language)
    text = HEADER.format(language=args.language, release=RELEASE)
    text += yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=100)
    args.out.write_text(text, encoding="utf-8")
    n = len(doc["intents"]["HassGetState"]["data"])
    print(f"{args.out}: {n} blocks, {len(doc['lists'])} lists, {len(doc['expansion_rules'])} rules")


if __name__ == "__main__":
    main()
