"""eventar.viz / eventar show: valid images of the expected size and frame count, colours where events are."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from eventar.errors import EventarError
from eventar.events import Recording, make_events
from eventar.viz import animation_frames, image_size, plot_events, plot_representation, plot_run, save_animation, write_run_page
from eventar.viz._style import OFF_RGB, ON_RGB, counts_to_rgb
from eventar.viz.run import figure_to_png

W, H = 64, 48


def hand_made(span_us=100_000):
    """ON events at (40, 30), OFF events at (50, 40), spread over ``span_us``; plus a few far away."""
    n = 400
    t = np.linspace(0, span_us, 2 * n).astype(np.int64)
    x = np.where(np.arange(2 * n) % 2 == 0, 40, 50)
    y = np.where(np.arange(2 * n) % 2 == 0, 30, 40)
    p = (np.arange(2 * n) % 2 == 0).astype(np.uint8)
    return Recording(make_events(t, x, y, p), W, H, format="test")


def test_counts_to_rgb_colours():
    on = np.zeros((3, 3))
    off = np.zeros((3, 3))
    on[0, 0], off[1, 1] = 5, 5
    img = counts_to_rgb(on, off)
    assert np.array_equal(img[0, 0], ON_RGB) and np.array_equal(img[1, 1], OFF_RGB)
    assert np.array_equal(img[2, 2], [255, 255, 255])


def test_animation_frames_pixels_and_count():
    rec = hand_made()
    frames, starts = animation_frames(rec, window_us=25_000, scale=2)
    assert frames.shape == (5, 2 * H, 2 * W, 3)  # 100 ms / 25 ms + the partial last window
    assert np.array_equal(frames[0, 60, 80], ON_RGB)  # (x=40, y=30) scaled by 2
    assert np.array_equal(frames[0, 80, 100], OFF_RGB)  # (x=50, y=40)
    assert np.array_equal(frames[0, 70, 20], [255, 255, 255])


def test_gif_has_expected_size_and_frames(tmp_path):
    out = tmp_path / "a.gif"
    n = save_animation(hand_made(), out, window_us=20_000, speed=0.5, scale=3)
    assert n == 6
    assert image_size(out) == (3 * W, 3 * H, 6)
    from PIL import Image

    with Image.open(out) as im:
        im.seek(2)
        px = np.asarray(im.convert("RGB"))[3 * 30, 3 * 40]
    assert px[0] > 150 and px[2] < 100  # red-ish where ON events are


def test_mp4_without_ffmpeg_is_a_clear_error(tmp_path):
    if shutil.which("ffmpeg"):
        n = save_animation(hand_made(), tmp_path / "a.mp4", window_us=20_000)
        assert n == 6 and (tmp_path / "a.mp4").stat().st_size > 0
    else:
        with pytest.raises(EventarError, match="ffmpeg"):
            save_animation(hand_made(), tmp_path / "a.mp4")
        assert not (tmp_path / "a.mp4").exists()


def test_still_png_size(tmp_path):
    fig = plot_events(hand_made(), slices=4)
    w_in, h_in = fig.get_size_inches()
    path = figure_to_png(fig, tmp_path / "still.png", dpi=50)
    w, h, frames = image_size(path)
    assert (w, h, frames) == (round(w_in * 50), round(h_in * 50), 1)


def test_empty_recording_is_a_clear_message(tmp_path):
    empty = Recording(make_events([], [], [], []), W, H)
    with pytest.raises(EventarError, match="no events"):
        plot_events(empty)
    with pytest.raises(EventarError, match="no events"):
        save_animation(empty, tmp_path / "e.gif")
    assert not (tmp_path / "e.gif").exists()


@pytest.mark.parametrize("kind", ["frames", "voxel", "pointcloud", "afe"])
def test_each_representation_renders(tmp_path, kind):
    rng = np.random.default_rng(0)
    n = 5000
    ev = make_events(np.sort(rng.integers(0, 500_000, n)), rng.integers(0, W, n), rng.integers(0, H, n), rng.integers(0, 2, n))
    fig = plot_representation(Recording(ev, W, H), kind, bins=3)
    w, h, _ = image_size(figure_to_png(fig, tmp_path / f"{kind}.png", dpi=40))
    assert w > 50 and h > 50


def test_unknown_representation():
    with pytest.raises(EventarError, match="unknown representation"):
        plot_representation(hand_made(), "histogram")


def make_run(tmp_path):
    run = tmp_path / "run1"
    run.mkdir()
    rows = [{"epoch": e, "lr": 1e-3, "train_loss": 1.0 / (e + 1), "train_acc": 0.5 + 0.1 * e, "test_acc": 0.4 + 0.1 * e} for e in range(4)]
    (run / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n{\"epoch\": 4, \"trunc")
    (run / "confusion.json").write_text(json.dumps({"classes": ["a", "b"], "rows": "true", "columns": "predicted", "counts": [[5, 1], [0, 6]]}))
    return run


def test_run_page_png_and_self_contained_html(tmp_path):
    run = make_run(tmp_path)
    fig = plot_run(run)
    assert len(fig.axes) >= 4
    paths = write_run_page(run, tmp_path / "page.html")
    assert image_size(paths["png"])[0] > 100
    page = paths["html"].read_text()
    assert "data:image/png;base64," in page and "<img" in page and "src='http" not in page
    assert (run / "confusion.png").is_file()  # re-rendered from confusion.json


def test_run_page_needs_a_run_folder(tmp_path):
    with pytest.raises(EventarError, match="metrics.jsonl"):
        plot_run(tmp_path)


def test_cli_show_recording_and_run(tmp_path):
    from eventar.io import write_h5

    src = tmp_path / "rec.h5"
    write_h5(src, hand_made())
    gif = tmp_path / "rec.gif"
    cmd = [sys.executable, "-m", "eventar", "show", str(src), "-o", str(gif), "--window-us", "50000", "--scale", "1"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert image_size(gif) == (W, H, 3)
    again = subprocess.run(cmd, capture_output=True, text=True)
    assert again.returncode != 0 and "--force" in again.stderr
    run = make_run(tmp_path)
    out = subprocess.run([sys.executable, "-m", "eventar", "show", str(run)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert (run / "summary.png").is_file() and (run / "summary.html").is_file()
