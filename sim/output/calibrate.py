"""A calibration's figure, its summary as data and its calibrated scenario file (:mod:`sim.analysis.calibrate`).

:func:`calibration_figure` draws the prior against the posterior of each calibrated input and the distances
of the draws against the acceptance threshold; :func:`calibration_record` is what ``calibration.json`` holds;
:func:`calibrated_toml` is the scenario file with each calibrated key replaced by an ``empirical``
distribution of its posterior values and weights. Nothing here writes a file; the CLI does.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from sim.analysis.calibrate import Calibration
from sim.output.plots import OKABE_ITO, footer_figure, style_axes
from sim.output.style import styled

#: Bins of each histogram.
BINS = 30


@styled
def calibration_figure(fit: Calibration) -> Figure:
    """Prior against posterior for each calibrated input, and the distances of the draws.

    One panel per input: the prior (the first round's draws, a histogram of density) and the posterior
    (the last round's accepted draws, weighted), each with its 90% interval marked; a last panel: the
    distance of each replication of the first and the last round, with the final acceptance threshold.

    Returns:
        A new figure; the histograms have gids ``prior:<key>``, ``posterior:<key>`` and ``distances:<round>``,
        the threshold line ``threshold``.
    """
    n = len(fit.params) + 1
    fig = footer_figure((8.0, 2.6 * n + 0.6))
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    prior_draws = fit.draws[fit.draws["round"] == 0]
    summary = fit.summary().set_index("param")
    for ax, key in zip(axes, fit.params, strict=False):
        style_axes(ax)
        prior_values = prior_draws[key].to_numpy(dtype=float)
        values, weights = fit.values(key), fit.weights
        low, high = float(min(prior_values.min(), values.min())), float(max(prior_values.max(), values.max()))
        bins = np.linspace(low, high if high > low else low + 1.0, BINS + 1)
        ax.hist(prior_values, bins=bins, density=True, color=OKABE_ITO["sky_blue"], alpha=0.6, label="Prior",
                gid=f"prior:{key}")
        ax.hist(values, bins=bins, weights=weights, density=True, color=OKABE_ITO["vermillion"], alpha=0.7,
                label="Posterior", gid=f"posterior:{key}")
        row = summary.loc[key]
        for which, colour, style in (("prior", OKABE_ITO["blue"], ":"), ("posterior", OKABE_ITO["vermillion"], "--")):
            for q in ("p05", "p95"):
                ax.axvline(float(row[f"{which}_{q}"]), color=colour, linestyle=style, linewidth=1.2)
        ax.set_title(f"{key}: posterior 90% interval {row['posterior_p05']:.4g} to {row['posterior_p95']:.4g} "
                     f"(prior {row['prior_p05']:.4g} to {row['prior_p95']:.4g})", fontsize="medium")
        ax.set_ylabel("Density")
        ax.legend(loc="upper right", frameon=False)
    ax = axes[-1]
    style_axes(ax)
    last = len(fit.distances) - 1
    everything = np.concatenate([d.ravel() for d in fit.distances])
    top = float(np.quantile(everything, 0.95))
    bins = np.linspace(0.0, max(top, 2.0 * fit.threshold, 1e-9), BINS + 1)
    for round_, colour in ((0, OKABE_ITO["sky_blue"]), (last, OKABE_ITO["vermillion"])):
        if round_ == 0 or last > 0:
            label = "First round (prior)" if round_ == 0 else f"Round {round_ + 1} (last)"
            ax.hist(np.minimum(fit.distances[round_].ravel(), bins[-1]), bins=bins, color=colour, alpha=0.6,
                    label=label, gid=f"distances:{round_}")
    ax.axvline(fit.threshold, color=OKABE_ITO["black"], linewidth=1.4, gid="threshold",
               label=f"Acceptance threshold {fit.threshold:.3g}")
    ax.set_xlabel("Distance of a replication (mean over the observations; the last bin holds the rest)")
    ax.set_ylabel("Replications")
    ax.legend(loc="upper right", frameon=False)
    ax.set_title(f"{fit.simulations:,} simulations, ESS {fit.ess:.1f}, observations up to {fit.until}",
                 fontsize="medium")
    return fig


def calibration_record(fit: Calibration) -> dict[str, Any]:
    """What ``calibration.json`` holds: the method's settings and evidence, and per input its prior and posterior
    mean and 90% interval."""
    summary = fit.summary()
    return {
        "method": "ABC rejection with importance weights, then ABC-SMC rounds (sim.analysis.calibrate)",
        "observations": {"name": fit.observations.name, "start_date": fit.observations.start_date,
                         "observed_until": fit.observations.until, "used_until": fit.until},
        "simulations": fit.simulations,
        "draws_per_round": int((fit.draws["round"] == 0).sum()),
        "rounds": int(fit.draws["round"].max()) + 1,
        "runs_per_draw": fit.runs_per_draw,
        "seed": fit.seed,
        "accept_quantile": fit.accept,
        "ess": fit.ess,
        "accepted": len(fit.posterior),
        "threshold": fit.threshold,
        "thresholds": list(fit.thresholds),
        "targets": [{"kind": t.kind, "name": t.name, "day": t.day, "low": t.low, "high": t.high, "scale": t.scale}
                    for t in fit.targets],
        "parameters": {
            row.param: {
                "prior": fit.priors[row.param].model_dump(mode="json"),
                "prior_mean": row.prior_mean, "prior_90": [row.prior_p05, row.prior_p95],
                "posterior_mean": row.posterior_mean, "posterior_90": [row.posterior_p05, row.posterior_p95],
            }
            for row in summary.itertuples()
        },
    }


def calibrated_toml(fit: Calibration, source: Path | None = None, observed_file: str = "") -> str:
    """The calibrated scenario as a TOML file: ``source`` with each calibrated key replaced by an ``empirical``
    distribution of its posterior values and weights, under a header comment naming the observations, the
    date, the simulations and the ESS; its ``name`` gets ``_calibrated`` appended.

    The rest of ``source`` (comments included) is kept; a relative ``extends`` is made absolute, since the file
    is written elsewhere. Without ``source`` (a scenario built in Python), or when a calibrated key lies in a list
    entry the file does not write itself (inherited through ``extends``), the whole resolved scenario is written.
    """
    import tomlkit

    header = [
        f"# Calibrated from {source.name if source else fit.scenario.name} by `deploysim calibrate`, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.",
        f"# Observations: '{fit.observations.name}'{f' ({observed_file})' if observed_file else ''}, used up to "
        f"{fit.until}.",
        f"# {fit.simulations:,} simulations ({fit.runs_per_draw} per draw, seed {fit.seed}); ESS {fit.ess:.1f} of "
        f"{len(fit.posterior)} accepted draws; threshold {fit.threshold:.4g}.",
        f"# Calibrated (posterior as an empirical distribution of values and weights): {', '.join(fit.params)}.",
        "",
    ]
    name = f"{fit.scenario.name}_calibrated"
    doc = None if source is None else tomlkit.parse(source.read_text(encoding="utf-8"))
    if doc is None or any(not _has_list_entry(doc, key.split(".")) for key in fit.params):
        from sim.scenario.toml import toml_document

        data = fit.calibrated_scenario().model_dump(mode="python", by_alias=True)
        data["name"] = name
        return "\n".join(header) + toml_document(data)
    doc["name"] = name
    parent = doc.get("extends")
    if isinstance(parent, str) and source is not None:
        from sim.scenario.library import resolve

        doc["extends"] = str(resolve(parent, relative_to=source.resolve().parent).resolve()) \
            if not _is_library_name(parent) else parent
    for key in fit.params:
        _set(doc, key.split("."), fit.empirical(key).model_dump(mode="python"))
    return "\n".join(header) + tomlkit.dumps(doc)


def _has_list_entry(doc: Any, parts: list[str]) -> bool:
    """Whether every list a dotted key indexes into is written in the document itself (True: no list on the way)."""
    node = doc
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                return False
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            # A table not written here yet is made on the way, unless a list index follows.
            return not any(p.isdigit() for p in parts[i:])
    return True


def _is_library_name(text: str) -> bool:
    from sim.scenario.library import is_name, library_names

    return is_name(text) and text in library_names()


def _set(doc: Any, parts: list[str], value: dict[str, Any]) -> None:
    """Set a dotted key in a tomlkit document as an inline table, making the tables on the way."""
    import tomlkit

    node = doc
    for part in parts[:-1]:
        key: Any = int(part) if part.isdigit() and isinstance(node, list) else part
        if isinstance(node, list):
            node = node[key]
            continue
        if part not in node:
            node[part] = tomlkit.table()
        node = node[part]
    table = tomlkit.inline_table()
    table.update({"dist": value["dist"], "values": list(value["values"]), "weights": list(value["weights"])})
    node[parts[-1]] = table
