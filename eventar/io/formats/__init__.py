"""One module per file format; each defines ``READERS`` (see :mod:`eventar.io._registry`)."""
