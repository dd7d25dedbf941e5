"""The home: configured devices (registry), slots to devices (resolve), what
may run (policy), and devices' MQTT messages (protocols)."""

from edged.home.policy import (
    Decision,
    Pending,
    PendingConfirmations,
    answer_confirmation,
    apply_policy,
    confirmation_reply,
)
from edged.home.protocols import RenderError, render
from edged.home.registry import Area, Device, Floor, Home, NameMatch
from edged.home.resolve import Action, Resolution, SiteContext, resolve_targets

__all__ = [
    "Action",
    "Area",
    "Decision",
    "Device",
    "Floor",
    "Home",
    "NameMatch",
    "Pending",
    "PendingConfirmations",
    "RenderError",
    "Resolution",
    "SiteContext",
    "answer_confirmation",
    "apply_policy",
    "confirmation_reply",
    "render",
    "resolve_targets",
]
