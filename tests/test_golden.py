"""The baseline's replications for a fixed seed, compared with a stored golden table.

This catches unintended changes to the model or the random streams. It is not validation: the
numbers are whatever the model produced when the file was written by ``tests/golden/regenerate.py``.
"""

from __future__ import annotations

import pandas as pd

from tests.golden.regenerate import GOLDEN, golden_table


def test_baseline_matches_golden_table() -> None:
    actual = golden_table()
    expected = pd.read_csv(GOLDEN, dtype={c: "string" for c in actual.columns if c.endswith("_binding")})
    pd.testing.assert_frame_equal(actual, expected, check_dtype=False, rtol=1e-8)
