"""``deploysim validate``: check scenario and observations files without running them."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.commands.errors import EXIT_USER_ERROR, print_error
from sim.scenario.errors import ScenarioError

VALIDATE_EXAMPLES = """\
examples:
  deploysim validate scenarios/baseline.toml
  deploysim validate scenarios/*.toml
  deploysim validate observations/mss_haiti.toml

Exit code 0 when every file is valid, 2 when any is not; each problem is one line naming the file,
the line, the key and what was expected.
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``validate`` subcommand."""
    p = subparsers.add_parser(
        "validate",
        help="check scenario or observations files without running them",
        description="Read each scenario file (following 'extends'), check it against the schema and the\n"
        "whole-scenario rules, and print 'ok' with its name, start date and horizon, or its problems.\n"
        "A file with [[milestone]], [[not_reached]], [[strength]], [[money]] or [[event]] tables (or\n"
        "observed_until) is read as an observations file instead (see deploysim schema --observations).",
        epilog=VALIDATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, help="scenario or observations files (TOML)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from sim.scenario.loader import load_scenario
    from sim.scenario.observations import load_observations

    bad = 0
    for file in args.files:
        try:
            if _is_observations(file):
                observations = load_observations(file)
                entries = sum(1 for _ in observations.dates())
                print(f"ok: {file} (observations '{observations.name}', from {observations.start_date} to "
                      f"{observations.until}, {entries} entries)")
                continue
            scenario = load_scenario(file)
        except ScenarioError as exc:
            bad += 1
            print_error(str(exc))
        else:
            print(f"ok: {file} (scenario '{scenario.name}', from {scenario.start_date}, {scenario.horizon_days} days)")
    return EXIT_USER_ERROR if bad else 0


#: Top-level keys only an observations file has.
OBSERVATION_KEYS = ("milestone", "not_reached", "strength", "money", "event", "observed_until")


def _is_observations(path: Path) -> bool:
    """Whether ``path`` reads as an observations file (an unreadable one is left to the scenario loader's errors)."""
    import tomllib

    from sim.scenario.loader import _read_text, _Unreadable

    try:
        # The loader's reader: a regular file of bounded size only (never a pipe that would block).
        data = tomllib.loads(_read_text(path))
    except (OSError, UnicodeDecodeError, _Unreadable, tomllib.TOMLDecodeError):
        return False
    return any(key in data for key in OBSERVATION_KEYS)
