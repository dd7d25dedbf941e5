"""Colour conversions the protocol presets need."""

from __future__ import annotations

# Where rgb_to_xy puts black, which has no chromaticity: the D65 white point.
D65_XY = (0.3127, 0.3290)


def _linear(channel: int) -> float:
    # Undo the sRGB transfer curve: lamps mix light linearly.
    c = max(0, min(255, channel)) / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def rgb_to_xy(r: int, g: int, b: int) -> tuple[float, float]:
    """sRGB 0-255 to CIE xy with the Wide RGB D65 matrix Hue and zigbee2mqtt use,
    rounded to 4 places (more is noise to a bulb)."""
    lr, lg, lb = _linear(r), _linear(g), _linear(b)
    x = lr * 0.664511 + lg * 0.154324 + lb * 0.162028
    y = lr * 0.283881 + lg * 0.668433 + lb * 0.047685
    z = lr * 0.000088 + lg * 0.072310 + lb * 0.986039
    total = x + y + z
    if total == 0:
        return D65_XY
    return round(x / total, 4), round(y / total, 4)


def kelvin_to_mired(kelvin: float, lo: int = 153, hi: int = 500) -> int:
    """Colour temperature in mired, clamped to what the lamp accepts
    (153-500 is the usual 6500 K-2000 K range of Zigbee and Tasmota lamps)."""
    if kelvin <= 0:
        raise ValueError(f"colour temperature must be positive (got {kelvin})")
    return max(lo, min(hi, round(1_000_000 / kelvin)))
