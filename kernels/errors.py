"""Errors raised by the kernels (both are :class:`eventar.errors.EventarError`, hence ValueError)."""

from __future__ import annotations

from eventar.errors import EventarError, EventValidationError


class KernelUnavailableError(EventarError):
    """The requested backend (``cuda``) cannot run here: no device, or numba.cuda is missing."""


__all__ = ["KernelUnavailableError", "EventValidationError"]
