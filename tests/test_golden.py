"""The baseline's replications for a fixed seed, compared with a stored golden table.

This catches unintended changes to the model or the random streams. It is not validation: the
numbers are whatever the model produced when the file was written by ``tests/golden/regenerate.py``.
Columns added since (a new outcome) are not compared until the file is regenerated; every stored column is.
"""

from __future__ import annotations

import pandas as pd

from tests.golden.regenerate import GOLDEN, golden_table


def test_baseline_matches_golden_table() -> None:
    actual = golden_table()
    expected = pd.read_csv(GOLDEN, dtype={c: "string" for c in actual.columns if c.endswith("_binding")})
    missing = [c for c in expected.columns if c not in actual.columns]
    assert not missing, f"columns of the golden table no longer produced: {missing}"
    # A new outcome adds a column without changing any existing number: the stored columns must match.
    pd.testing.assert_frame_equal(actual[list(expected.columns)], expected, check_dtype=False, rtol=1e-8)
