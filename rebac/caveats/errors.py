"""Caveat evaluation errors (to be moved into :mod:`rebac.errors`)."""

from __future__ import annotations

from rebac.errors import RebacError

__all__ = ["CaveatEvaluationError"]


class CaveatEvaluationError(RebacError):
    """A caveat expression failed at run time (e.g. a missing map key, division by zero) and
    the failure was not absorbed by ``&&`` / ``||``."""

    reason = "ERROR_REASON_CAVEAT_EVALUATION_ERROR"

    def __init__(self, caveat: str, message: str):
        self.caveat = caveat
        self.message = message
        super().__init__(f"caveat '{caveat}': evaluation error: {message}")
