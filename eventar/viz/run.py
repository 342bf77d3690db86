"""One page for a training run: curves from ``metrics.jsonl``, the confusion matrix, the energy chart.

>>> fig = plot_run("runs/spikepoint_synthetic-20261122-0715")
>>> write_run_page("runs/…", "report.html")   # PNG + self-contained HTML (images embedded)
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import Dict, List


from ..errors import EventarError
from ..io.atomic import atomic_output
from ._style import pyplot


def read_metrics(run_dir: "os.PathLike[str] | str") -> List[Dict]:
    """The per-epoch records of ``metrics.jsonl`` (a truncated last line is ignored).

    Raises:
        EventarError: the folder has no ``metrics.jsonl``.
    """
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise EventarError(f"{run_dir}: not a run folder (no metrics.jsonl); expected the output folder of `eventar train`")
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _ensure_png(run_dir: Path, stem: str) -> Path:
    """``<stem>.png`` in the run folder, re-rendered from ``<stem>.json`` by its owner when missing."""
    png, js = run_dir / f"{stem}.png", run_dir / f"{stem}.json"
    if png.is_file() or not js.is_file():
        return png
    if stem == "energy":
        from ..energy import EnergyReport

        EnergyReport.from_json(js).plot(png)
    elif stem == "confusion":
        from ..train.metrics import save_confusion

        data = json.loads(js.read_text())
        import torch

        save_confusion(torch.tensor(data["counts"]), data["classes"], run_dir)
    return png


def plot_run(run_dir: "os.PathLike[str] | str"):
    """Training curves (loss; train / test accuracy per epoch), confusion matrix and energy chart.

    Panels whose files are absent (e.g. no energy report) say so instead of failing.
    Returns:
        the matplotlib Figure.
    """
    run_dir = Path(run_dir)
    rows = read_metrics(run_dir)
    plt = pyplot()
    fig = plt.figure(figsize=(14, 9), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.3])
    ax_loss, ax_acc = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    epochs = [r.get("epoch", i) for i, r in enumerate(rows)]
    for key, ax, label in (("train_loss", ax_loss, "train loss"), ("test_loss", ax_loss, "test loss"),
                           ("train_acc", ax_acc, "train acc"), ("test_acc", ax_acc, "test acc (window)"),
                           ("test_acc_recording", ax_acc, "test acc (recording vote)")):
        pts = [(e, r[key]) for e, r in zip(epochs, rows) if r.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), marker="o", ms=3, label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_title("loss")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_title("accuracy")
    ax_acc.set_ylim(0, 1.02)
    for ax in (ax_loss, ax_acc):
        if ax.lines:
            ax.legend(fontsize="small")
        else:
            ax.text(0.5, 0.5, "no epochs recorded yet", ha="center", va="center", transform=ax.transAxes)
    for col, stem, title in ((0, "confusion", "confusion matrix"), (1, "energy", "energy per layer")):
        ax = fig.add_subplot(grid[1, col])
        ax.set_axis_off()
        png = _ensure_png(run_dir, stem)
        if png.is_file():
            ax.imshow(plt.imread(png))
            ax.set_title(title)
        else:
            ax.text(0.5, 0.5, f"no {stem}.json / {stem}.png in this run", ha="center", va="center", transform=ax.transAxes)
    fig.suptitle(f"run {run_dir.name}: {len(rows)} epochs", fontsize="large")
    return fig


def write_run_page(run_dir: "os.PathLike[str] | str", out: "os.PathLike[str] | str", force: bool = True) -> Dict[str, Path]:
    """Write the run page as ``<out>.png`` and a self-contained ``<out>.html`` (images embedded).

    Args:
        out: output path; its suffix (.png or .html) is replaced to make both files.
    Returns:
        {"png": path, "html": path}.
    """
    run_dir, out = Path(run_dir), Path(out)
    fig = plot_run(run_dir)
    png_path, html_path = out.with_suffix(".png"), out.with_suffix(".html")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot().close(fig)
    png = buf.getvalue()
    with atomic_output(png_path, force=force, suffix=".png") as tmp:
        tmp.write_bytes(png)
    rows = read_metrics(run_dir)
    last = rows[-1] if rows else {}
    summary = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in last.items())
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>eventar run "
        f"{html.escape(run_dir.name)}</title></head><body><h1>Run {html.escape(run_dir.name)}</h1>"
        f"<h2>Last epoch</h2><table>{summary}</table>"
        f"<img alt='run summary' style='max-width:100%' src='data:image/png;base64,{base64.b64encode(png).decode()}'>"
        "</body></html>\n"
    )
    with atomic_output(html_path, force=force, suffix=".html") as tmp:
        tmp.write_text(page)
    return {"png": png_path, "html": html_path}


def figure_to_png(fig, path: "os.PathLike[str] | str", dpi: int = 100, force: bool = True) -> Path:
    """Save a Figure atomically as PNG and close it; returns the path."""
    path = Path(path)
    with atomic_output(path, force=force, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    pyplot().close(fig)
    return path


def image_size(path: "os.PathLike[str] | str") -> tuple:
    """(width, height, n_frames) of an image file, read with Pillow."""
    from PIL import Image

    with Image.open(path) as im:
        return im.width, im.height, getattr(im, "n_frames", 1)


__all__ = ["plot_run", "write_run_page", "read_metrics", "figure_to_png", "image_size"]
