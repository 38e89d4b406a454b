"""PNG charts of a report, drawn from the JSON report alone (so they never disagree with it).

Four pictures a planner reads: utilisation by week for baseline and scenario with the 5–95 %
band of the replications; the distribution of waiting times (empirical CDF, which reads
directly as "x % of requests waited less than h hours"); the paired differences with their
confidence intervals (a forest plot: an interval that crosses zero is noise); and the sweep,
as a line with its interval for one parameter or a heat map for two. Matplotlib's Agg backend
is used explicitly so no display is ever needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from pilotshare.simulations.metrics import SITE

BASELINE = "#4c72b0"
SCENARIO = "#dd8452"
MAX_PANELS = 6
LABELS = {
    "utilisation": "utilisation",
    "wait_hours": "mean wait (h)",
    "served_share": "served share",
    "revenue": "revenue",
    "booking_odds": "booking odds",
}


def _arr(xs: Sequence[float | None]) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in xs], dtype=float)


def _panels(kinds: Sequence[str]) -> tuple[Any, Any]:
    n = len(kinds)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.2 * cols, 2.9 * rows), squeeze=False, sharex=True
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _kinds(report: dict[str, Any]) -> list[str]:
    kinds = [k for k in report["weekly_utilisation"]["baseline"] if k != SITE]
    return [SITE, *kinds][:MAX_PANELS]


def utilisation_by_week(report: dict[str, Any], path: Path) -> Path:
    kinds = _kinds(report)
    fig, axes = _panels(kinds)
    for ax, kind in zip(axes.flat, kinds, strict=False):
        for arm, colour in (("baseline", BASELINE), ("scenario", SCENARIO)):
            week = report["weekly_utilisation"][arm].get(kind)
            if not week or not week["mean"]:
                continue
            x = np.arange(1, len(week["mean"]) + 1)
            ax.fill_between(
                x, _arr(week["p05"]), _arr(week["p95"]), color=colour, alpha=0.2, linewidth=0
            )
            ax.plot(x, _arr(week["mean"]), color=colour, label=arm, marker=".")
        ax.set_title(kind, fontsize=10)
        ax.set_ylim(0, 1.05)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8, loc="lower right")
    fig.supxlabel("week of the measured horizon")
    fig.supylabel("utilisation (mean, 5–95 % band)")
    return _save(fig, path)


def wait_distributions(
    report: dict[str, Any], samples: dict[str, dict[str, np.ndarray]], path: Path
) -> Path:
    """ECDF of waits; ``samples[arm][kind]`` holds the pooled waits of each arm."""
    kinds = _kinds(report)
    fig, axes = _panels(kinds)
    for ax, kind in zip(axes.flat, kinds, strict=False):
        for arm, colour in (("baseline", BASELINE), ("scenario", SCENARIO)):
            w = np.sort(samples.get(arm, {}).get(kind, np.zeros(0)))
            if w.size:
                ax.step(w, np.arange(1, w.size + 1) / w.size, where="post", color=colour, label=arm)
        ax.set_title(kind, fontsize=10)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8, loc="lower right")
    fig.supxlabel("hours from request to start")
    fig.supylabel("share of served requests")
    return _save(fig, path)


def differences(report: dict[str, Any], path: Path) -> Path:
    rows = [r for r in report["comparison"] if r["difference"]["mean"] is not None]
    fig, axes = plt.subplots(
        1,
        len({r["metric"] for r in rows}) or 1,
        figsize=(
            3.3 * max(1, len({r["metric"] for r in rows})),
            0.45 * max(4, len(rows) // 3) + 1.2,
        ),
        squeeze=False,
    )
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    for ax, metric in zip(axes.flat, metrics, strict=False):
        mine = [r for r in rows if r["metric"] == metric]
        y = np.arange(len(mine))[::-1]
        mean = _arr([r["difference"]["mean"] for r in mine])
        lo = _arr([r["difference"]["lo"] for r in mine])
        hi = _arr([r["difference"]["hi"] for r in mine])
        colours = [SCENARIO if r["significant"] else "grey" for r in mine]
        ax.hlines(
            y, np.where(np.isnan(lo), mean, lo), np.where(np.isnan(hi), mean, hi), colors=colours
        )
        ax.scatter(mean, y, c=colours, zorder=3, s=18)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(y, [r["kind"] for r in mine], fontsize=8)
        ax.set_title(f"Δ {LABELS.get(metric, metric)}", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    fig.suptitle("scenario − baseline (paired, confidence interval)", fontsize=10)
    return _save(fig, path)


def sweep(report: dict[str, Any], path: Path) -> Path | None:
    data = report.get("sweep")
    if not data or not data["points"]:
        return None
    metric = data["metric"]
    params = data["parameters"]
    points = data["points"]
    kind = data.get("kind", SITE)
    label = LABELS.get(metric, metric) + ("" if kind == SITE else f", {kind}")
    if len(params) == 1:
        x = _arr([p["values"][0] for p in points])
        mean = _arr([p[metric]["mean"] for p in points])
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        ax.fill_between(
            x,
            _arr([p[metric]["lo"] for p in points]),
            _arr([p[metric]["hi"] for p in points]),
            color=SCENARIO,
            alpha=0.25,
            linewidth=0,
        )
        ax.plot(x, mean, color=SCENARIO, marker="o")
        ax.set_xlabel(f"{params[0]['change']}.{params[0]['field']}")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        return _save(fig, path)
    xs, ys = params[0]["values"], params[1]["values"]
    grid = np.full((len(ys), len(xs)), np.nan)
    for p in points:
        i, j = ys.index(p["values"][1]), xs.index(p["values"][0])
        grid[i, j] = np.nan if p[metric]["mean"] is None else p[metric]["mean"]
    fig, ax = plt.subplots(figsize=(1.1 * len(xs) + 2.8, 0.7 * len(ys) + 2.0))
    image = ax.imshow(grid, origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
    ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
    ax.set_xlabel(f"{params[0]['change']}.{params[0]['field']}")
    ax.set_ylabel(f"{params[1]['change']}.{params[1]['field']}")
    finite = grid[np.isfinite(grid)]
    middle = float(finite.mean()) if finite.size else 0.0
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax.text(
                j,
                i,
                f"{v:.3g}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if v < middle else "black",
            )
    fig.colorbar(image, ax=ax, label=label)
    return _save(fig, path)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
