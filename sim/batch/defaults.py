"""Defaults every batch front end shares, in a module that imports nothing, so the command line can
show them in its help without loading numpy or pandas."""

#: The seed of a batch when none is given: the forecast date, 2024-03-14.
DEFAULT_SEED = 20240314

# Calibration (:mod:`sim.analysis.calibrate`), here so that ``deploysim calibrate --help`` can show them.
#: Parameter draws per round.
DEFAULT_CALIBRATION_DRAWS = 200
#: Replications per draw.
DEFAULT_CALIBRATION_RUNS_PER_DRAW = 5
#: Share of a round's replication distances at or below its acceptance threshold.
DEFAULT_CALIBRATION_ACCEPT = 0.1
#: ABC-SMC rounds after the first (rejection) round.
DEFAULT_CALIBRATION_ROUNDS = 1
