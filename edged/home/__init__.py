"""The home: configured devices (registry), slots to devices (resolve), what
may run (policy), devices' MQTT messages (protocols), and what devices
last reported (state)."""

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
from edged.home.state import DeviceState, StateAnswer, StateStore, StateView, answer_query

__all__ = [
    "Action",
    "Area",
    "Decision",
    "Device",
    "DeviceState",
    "Floor",
    "Home",
    "NameMatch",
    "Pending",
    "PendingConfirmations",
    "RenderError",
    "Resolution",
    "SiteContext",
    "StateAnswer",
    "StateStore",
    "StateView",
    "answer_confirmation",
    "answer_query",
    "apply_policy",
    "confirmation_reply",
    "render",
    "resolve_targets",
]
