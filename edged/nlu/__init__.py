"""Natural-language understanding: text -> Parse(intent, confidence, slots)."""

from edged.nlu.types import Parse, Slot

__all__ = ["Parse", "Slot"]
