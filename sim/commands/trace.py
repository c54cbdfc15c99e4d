"""``deploysim trace``: the story of one replication, as text and as a timeline figure."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.batch import safeio
from sim.batch.defaults import DEFAULT_SEED
from sim.commands.errors import UserError, replication_int, seed_int


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``trace`` subcommand."""
    p = subparsers.add_parser(
        "trace",
        help="tell the story of one replication and draw its timeline",
        description="Run one replication with its event trace, print its dated events (what happened, what it "
        "waited for) and write a timeline figure. Its numbers equal row K of a batch run with the same seed.",
        epilog="examples:\n  deploysim trace scenarios/baseline.toml\n"
        "  deploysim trace scenarios/baseline.toml --replication 17 --seed 7\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, help="scenario file (TOML)")
    p.add_argument("--replication", type=replication_int, default=0, metavar="K",
                   help="replication index (default 0)")
    p.add_argument("--seed", type=seed_int, default=DEFAULT_SEED, help=f"batch seed (default {DEFAULT_SEED})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a scenario value (TOML syntax); repeatable")
    p.add_argument("--out", type=Path, help="timeline file (default results/<scenario>/traces/...png)")
    p.add_argument("--results-root", type=Path, default=Path("results"), help="root of the store (default results)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    import hashlib
    import json

    from sim.analysis.story import format_story
    from sim.model import simulate
    from sim.output.timeline import timeline
    from sim.scenario.loader import load_scenario

    scenario = load_scenario(args.scenario, args.overrides)
    if args.replication < 0:
        raise UserError(f"--replication must be 0 or more, got {args.replication}")
    record = simulate(scenario, seed=args.seed, replication=args.replication, trace=True)
    print(format_story(record, scenario))
    out = args.out
    if out is None:
        # The resolved scenario's digest in the name: a changed scenario never overwrites another's picture.
        digest = hashlib.sha256(json.dumps(scenario.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        safeio.check_name(scenario.name, "scenario name")
        out = args.results_root / scenario.name / "traces" / f"seed{args.seed}-rep{args.replication}-{digest[:8]}.png"
        safeio.check_inside(out, args.results_root, "trace file")
    with safeio.atomic_file(out, force=True, is_ours=_is_own_png, kind="timeline") as partial:
        timeline(record, scenario).savefig(partial, format="png", dpi=120, metadata={"Software": "deploysim"})
    print(f"\nTimeline: {out}")
    return 0


def _is_own_png(path: Path) -> bool:
    """Whether ``path`` is a PNG this program drew (its metadata names deploysim)."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(65536)
    except OSError:
        return False
    return head.startswith(b"\x89PNG") and b"deploysim" in head
