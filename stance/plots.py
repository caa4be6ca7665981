"""Plots for HTML reports: matplotlib figures embedded as inline PNG, so a report is one
self-contained file that opens without a network.

Figures are ``matplotlib.figure.Figure`` objects drawn straight to PNG: no pyplot, no
backend switch, so importing stance leaves a notebook's matplotlib as it was."""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.figure import Figure

from stance.webpage import esc

PALETTE = ["#1f5fa8", "#c0392b", "#7f8c8d", "#27ae60", "#8e44ad", "#d68910", "#16a085", "#2c3e50"]


def figure(width: float, height: float):
    """A new figure and its one axes."""
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def img(fig: Figure, alt: str) -> str:
    """An ``<img>`` tag holding the figure as a base64 PNG."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def confusion_figure(matrix: list[list[int]], labels: list[str], title: str):
    counts = np.asarray(matrix, dtype=float)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = figure(1.2 + 0.9 * len(labels), 1.0 + 0.8 * len(labels))
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                    color="white" if share[i, j] > 0.55 else "black", fontsize=9)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    return fig


def grouped_bars(groups: list[str], series: dict[str, list[float]], title: str, ylabel: str,
                 ylim: tuple[float, float] | None = (0, 1)):
    """One cluster of bars per group, one bar per series."""
    fig, ax = figure(max(4.0, 1.1 * len(groups) * max(1, len(series)) * 0.45 + 1.5), 3.0)
    width = 0.8 / max(1, len(series))
    x = np.arange(len(groups))
    for k, (name, values) in enumerate(series.items()):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width, label=name, color=PALETTE[k % len(PALETTE)])
    ax.set_xticks(x, groups, rotation=20 if len(groups) > 4 else 0, ha="right" if len(groups) > 4 else "center")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, frameon=False, ncols=min(4, len(series)))
    ax.spines[["top", "right"]].set_visible(False)
    return fig
