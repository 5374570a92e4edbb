# Citizens' phone numbers are personal data. Rules: a number never appears in a metric
# label, an MQTT topic or a retained message; in logs it appears only masked, through
# `mask_number`, which keeps enough to tell two calls apart and no more.
from __future__ import annotations


def mask_number(number: str | None) -> str:
    """'+34612345678' -> '+34*******78'; short or empty numbers are masked entirely."""
    if not number:
        return "-"
    digits = [i for i, c in enumerate(number) if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(number)
    hide = set(digits[2:-2])
    return "".join("*" if i in hide else c for i, c in enumerate(number))
