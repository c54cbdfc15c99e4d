"""Defaults every batch front end shares, in a module that imports nothing, so the command line can
show them in its help without loading numpy or pandas."""

#: The seed of a batch when none is given: the forecast date, 2024-03-14.
DEFAULT_SEED = 20240314
