"""``deploysim merge``: join stored slices of one batch (``deploysim run --replications START:STOP``) into one run.

Refuses, with one line and exit code 2, slices of another scenario, seed or deploysim version, and
ranges of replications that overlap or leave a gap (see :func:`sim.batch.shards.check_slices`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.batch import safeio

EXAMPLES = """\
examples:
  deploysim run scenarios/baseline.toml --replications 0:5000 --out shards/0
  deploysim run scenarios/baseline.toml --replications 5000:10000 --out shards/1
  deploysim merge shards/0 shards/1 --out results/baseline/n10000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``merge`` subcommand."""
    p = subparsers.add_parser(
        "merge",
        help="join slices of one batch (run --replications) into one stored run",
        description="Join stored slices of one batch into one run folder, as if the batch had run at once: the "
        "tables are concatenated in replication order and the bands computed from the slices' added counts.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("slices", nargs="+", type=Path, metavar="DIR", help="a slice's run folder; in any order")
    p.add_argument("--out", type=Path, required=True, help="the merged run's folder")
    p.add_argument("--force", action="store_true", help="replace an existing run folder")
    p.add_argument("--no-plots", action="store_true", help="skip the figures")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    """Merge the slices; returns the exit code."""
    import shutil
    import tempfile

    from sim.batch.memory import fix_mmap_threshold
    from sim.batch.shards import MergeError, check_slices, merge_stored
    from sim.batch.store import command_line, read_manifest, save_results
    from sim.commands.errors import UserError
    from sim.commands.options import check_out, print_files

    check_out(args.out, args.force)
    manifests = [(str(folder), read_manifest(folder, kind="run")) for folder in args.slices]
    try:
        order = check_slices(manifests)
    except MergeError as exc:
        raise UserError(str(exc)) from None
    fix_mmap_threshold()
    # The merged tables go to a hidden folder of this merge's own beside the output, a slice at a time.
    created = safeio.make_parents(args.out.parent)
    spill = Path(tempfile.mkdtemp(prefix=".spill-", dir=args.out.parent))
    try:
        try:
            merged = merge_stored([args.slices[i] for i in order], spill)
        except MergeError as exc:
            raise UserError(str(exc)) from None

        def figures(tmp: Path) -> None:
            if not args.no_plots:
                from sim.commands.plot import write_figures

                write_figures(merged, tmp)

        folder = save_results(merged, folder=args.out, force=args.force, extra=figures, command=command_line())
    except BaseException:
        shutil.rmtree(spill, ignore_errors=True)
        safeio.remove_empty(created)
        raise
    shutil.rmtree(spill, ignore_errors=True)
    print(f"Merged {len(order)} slices: {merged.runs:,} runs of '{merged.name}', seed {merged.seed}")
    print_files(folder)
    return 0
