"""The ``deploysim`` command line: :mod:`sim.commands.main` parses, one module per subcommand runs.

The top layer: it may import everything below it; nothing imports it.
"""
