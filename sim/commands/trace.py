"""``deploysim trace``: the story of one replication, as text and as a timeline figure."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.batch import safeio
from sim.batch.defaults import DEFAULT_SEED
from sim.commands.errors import EXIT_MACHINE_ERROR, UserError, replication_int, seed_int

#: Events shown before the traceback of a replication that raised.
TAIL_EVENTS = 30


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``trace`` subcommand."""
    p = subparsers.add_parser(
        "trace",
        help="tell the story of one replication and draw its timeline",
        description="Run one replication with its event trace, print its dated events (what happened, what it "
        "waited for) and write a timeline figure. Its numbers equal row K of a batch run with the same seed.",
        epilog="examples:\n  deploysim trace scenarios/baseline.toml\n"
        "  deploysim trace scenarios/baseline.toml --replication 17 --seed 7\n"
        "  deploysim trace results/baseline/RUN_ID --replication 17   (a stored run: its scenario and seed)\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", type=Path, metavar="SCENARIO_OR_RUN",
                   help="scenario file (TOML), or a stored run folder (its scenario and seed; e.g. to reproduce a "
                   "replication listed in its failures.parquet)")
    p.add_argument("--replication", type=replication_int, default=0, metavar="K",
                   help="replication index (default 0)")
    p.add_argument("--seed", type=seed_int, default=None,
                   help=f"batch seed (default: a stored run's, else {DEFAULT_SEED})")
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
    from sim.model.mission import Mission
    from sim.output.timeline import timeline
    from sim.scenario.loader import load_scenario

    if args.replication < 0:
        raise UserError(f"--replication must be 0 or more, got {args.replication}")
    stored = _stored_run(args.scenario)
    if stored is not None:
        scenario, seed, failures = stored
        if args.overrides:
            raise UserError(f"{args.scenario}: a stored run fixes its scenario; --set applies to scenario files")
        if args.seed is not None and args.seed != seed:
            raise UserError(f"{args.scenario}: a stored run fixes its seed ({seed}); leave out --seed")
        if args.replication in failures:
            print(f"Replication {args.replication} failed in this run: {failures[args.replication]}\n")
    else:
        scenario = load_scenario(args.scenario, args.overrides)
        seed = DEFAULT_SEED if args.seed is None else args.seed
    args.seed = seed
    mission = Mission(scenario, seed, args.replication, trace=True)
    try:
        record = mission.run()
    except Exception:
        # The model raised: show what it did up to then, and where it failed.
        import traceback

        events = list(getattr(mission, "_trace", None) or [])
        print(f"Replication {args.replication} (seed {seed}) raised after {len(events)} traced events; the last "
              f"{min(len(events), TAIL_EVENTS)}:")
        for event in events[-TAIL_EVENTS:]:
            print(f"  day {event.day:8.2f}  {event.subsystem:<12} {event.event} {event.details}".rstrip())
        print()
        traceback.print_exc(file=sys.stdout)
        return EXIT_MACHINE_ERROR
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


def _stored_run(path: Path) -> tuple | None:
    """A stored run folder's scenario, seed and failures (replication -> error); None for anything else.

    Raises:
        sim.batch.store.StoreError: If the folder's manifest is not a run's.
    """
    from sim.batch.store import MANIFEST, read_manifest
    from sim.scenario.loader import scenario_from_dict

    if not (path.is_dir() and (path / MANIFEST).is_file()):
        return None
    manifest = read_manifest(path, kind="run")
    if not isinstance(manifest.get("scenario"), dict) or not isinstance(manifest.get("seed"), int):
        raise UserError(f"{path}: not a stored run (its manifest has no scenario and seed)")
    scenario = scenario_from_dict(manifest["scenario"], source=str(path / MANIFEST))
    failures: dict[int, str] = {}
    listed = path / "failures.parquet"
    if listed.is_file():
        import pandas as pd

        table = pd.read_parquet(listed, columns=["replication", "error"])
        failures = dict(zip(table["replication"].astype(int), table["error"].astype(str), strict=True))
    return scenario, manifest["seed"], failures
