"""Dataset loaders (installed as ``eventar.datasets``): DVS128 Gesture, HARDVS, DailyDVS-200, SyntheticGestures, EventFolder."""
