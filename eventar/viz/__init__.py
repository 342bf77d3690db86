"""Pictures of recordings, representations and training runs (matplotlib Agg, headless).

* :func:`plot_events` – time slices (ON red, OFF blue) and an event-rate strip;
* :func:`save_animation` – GIF (Pillow) or MP4 (ffmpeg) of accumulated frames with timestamps;
* :func:`plot_representation` – frames, voxel grid, SpikePoint point cloud, AFE frames;
* :func:`plot_run` / :func:`write_run_page` – curves, confusion matrix and energy chart of a run.

Every ``plot_*`` returns a matplotlib Figure.  matplotlib is imported only when a plot is made.
"""

from .events import animation_frames, as_recording, event_rate, plot_events, save_animation
from .representations import KINDS, compute_representation, plot_representation
from .run import figure_to_png, image_size, plot_run, read_metrics, write_run_page

__all__ = [
    "plot_events",
    "save_animation",
    "animation_frames",
    "event_rate",
    "as_recording",
    "plot_representation",
    "compute_representation",
    "KINDS",
    "plot_run",
    "write_run_page",
    "read_metrics",
    "figure_to_png",
    "image_size",
]
