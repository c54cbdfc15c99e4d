"""``deploysim report``: one self-contained HTML report of one or more stored runs.

Parses the command line and hands over to :func:`sim.output.report.write_report`; problems the user can fix (a
missing folder, a bad deadline, an existing file without ``--force``) become one line and exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """\
examples:
  deploysim report results/baseline/20260101T120000Z-seed20240314-n1000
  deploysim report results/baseline/RUN results/donors_pay_late/RUN --out late.html
  deploysim report results/baseline/RUN --deadline "the mandate's end=2024-10-02" --force
  deploysim report results/baseline/RUN --observed observations/mss_haiti.toml
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand to the ``deploysim`` parser."""
    p = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report (findings, tables, figures) of stored runs",
        description="Write one HTML file with the key findings in plain sentences, the milestone, binding\n"
        "and totals tables and every figure, embedded: it needs no network and no other file. With several\n"
        "run folders, each run gets a section and the others are compared with the first.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("results_dirs", nargs="+", type=Path, metavar="RESULTS_DIR",
                   help="a run folder, e.g. results/baseline/<run-id>; the first is the base of comparisons")
    p.add_argument("--out", type=Path, metavar="FILE.html", help="the report file (default RESULTS_DIR/report.html)")
    p.add_argument("--deadline", dest="deadlines", action="append", default=[], metavar="NAME=DATE",
                   help="a named date (YYYY-MM-DD) to give each milestone's chance by; repeatable. The mandate's "
                   "first expiry is always included")
    p.add_argument("--observed", type=Path, metavar="FILE",
                   help="an observations file (TOML): add a back-test of each run against it (each run is rerun "
                   "with its seed to score it, as 'deploysim backtest' does)")
    p.add_argument("--force", action="store_true", help="replace an existing report file")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Write the report and print its path; returns the exit code."""
    from sim.analysis.compare import ComparisonError, parse_deadlines
    from sim.commands.errors import UserError
    from sim.output.report import ReportError, write_report

    try:
        deadlines = parse_deadlines(args.deadlines)
        out = write_report(args.results_dirs, args.out, deadlines=deadlines, force=args.force,
                           observed=args.observed)
    except (ComparisonError, ReportError) as exc:
        raise UserError(str(exc)) from None
    print(out)
    return 0
