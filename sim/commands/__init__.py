"""Analysis subcommands of the ``deploysim`` command line, one module each (see :mod:`sim.cli`).

Each module defines ``register(subparsers)``, which adds its parser and sets ``handler`` to a
function taking the parsed arguments and returning the exit code. User errors are raised as
:class:`sim.cli.UserError` (or ScenarioError / StoreError) and become one line and exit code 2.
"""
