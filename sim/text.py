"""Formatting numbers for people: shares and milestone dates in printed tables."""

from __future__ import annotations

import math

import pandas as pd


def share_text(share: float) -> str:
    """A share as a percentage that never rounds a shortfall up to 100% (or a few runs down to 0%)."""
    if share in (0.0, 1.0):
        return f"{share:.0%}"
    return f"{min(max(share, 0.001), 0.999):.1%}"


def date_text(value: object) -> str:
    """A milestone date as ``YYYY-MM-DD``, or ``after`` when it was not reached by the horizon."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "after"
    return pd.Timestamp(value).date().isoformat()
