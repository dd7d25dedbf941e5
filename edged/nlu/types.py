"""The result of understanding one utterance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Slot values after normalisation (see edged.nlu.values):
#   brightness, position, volume_level, volume_step, percentage -> int (0-100)
#   temperature -> float (degrees, unit as spoken)
#   color -> {"name": str, "rgb": [r, g, b]} or {"name": str, "kelvin": int}
#   domain -> canonical domain ("light", "cover", ...); device_class likewise
#   name, area, floor, state -> the spoken words, tidied (lower case, fillers out)
SlotValue = Any


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    text: str
    start: int
    end: int
    value: SlotValue
    confidence: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "value": self.value,
            "confidence": round(self.confidence, 4),
        }


@dataclass(frozen=True, slots=True)
class Parse:
    """`intent` is None when the utterance is not recognised (out of scope or
    below the confidence floor); `best_guess` then says what the model leaned to."""

    text: str
    intent: str | None
    confidence: float
    slots: tuple[Slot, ...] = ()
    best_guess: str | None = None
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def recognised(self) -> bool:
        return self.intent is not None

    def slot(self, name: str) -> Slot | None:
        for s in self.slots:
            if s.name == name:
                return s
        return None

    def slots_named(self, name: str) -> list[Slot]:
        return [s for s in self.slots if s.name == name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "slots": [s.to_dict() for s in self.slots],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Parse:
        """`to_dict` read back (the journal keeps a request's parse)."""
        return cls(
            text=str(d.get("text", "")),
            intent=d.get("intent"),
            confidence=float(d.get("confidence") or 0.0),
            slots=tuple(
                Slot(s["name"], s["text"], s["start"], s["end"], s.get("value"), s["confidence"])
                for s in d.get("slots") or ()
            ),
        )
