"""Test-suite settings: the fixed hypothesis profile CI uses, and the larger one of ``make fuzz``.

``DEPLOYSIM_FUZZ=1`` (set by ``make fuzz``) selects the ``fuzz`` profile: ten times the examples of
every fuzz test, random rather than fixed draws, and the extra kill points of tests/test_kill.py.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

#: How many times the CI example counts the fuzz tests run (see tests/fuzzing.py).
FUZZ = os.environ.get("DEPLOYSIM_FUZZ") == "1"

_QUIET_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                 HealthCheck.function_scoped_fixture]
# CI: the same examples on every run (derandomize), so a failure there is reproducible at once.
settings.register_profile("ci", derandomize=True, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_QUIET_CHECKS)
settings.register_profile("fuzz", derandomize=False, deadline=None, database=None, print_blob=True,
                          suppress_health_check=_QUIET_CHECKS)
settings.load_profile("fuzz" if FUZZ else "ci")
