"""Representation kernels (installed as ``eventar.kernels``): numpy/torch reference, numba CPU and numba-cuda GPU, one dispatcher."""
