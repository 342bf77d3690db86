"""Dataset loaders (installed as ``eventar.datasets``): DVS128 Gesture, HARDVS, DailyDVS-200, SyntheticGestures, EventFolder.

Every dataset follows tonic's conventions: ``sensor_size = (W, H, 2)``, ``classes``, ``dtype``,
``__getitem__(i) -> (events, target)`` with ``transform``, ``target_transform``, ``transforms``.
Events are :data:`eventar.events.EVENT_DTYPE` arrays (t in µs).
"""

from ._base import EventDataset, default_root
from ._archive import extract_archive
from .cache import CachedDataset, fingerprint
from .dailydvs200 import DailyDVS200
from .dvsgesture import DVSGesture
from .hardvs import HARDVS
from .folder import EventFolder
from .synthetic import CLASSES as SYNTHETIC_CLASSES
from .synthetic import SyntheticGestures

__all__ = [
    "EventDataset",
    "default_root",
    "SyntheticGestures",
    "SYNTHETIC_CLASSES",
    "EventFolder",
    "CachedDataset",
    "fingerprint",
    "extract_archive",
    "DVSGesture",
    "HARDVS",
    "DailyDVS200",
]
