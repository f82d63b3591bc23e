"""Holding a time-driven event source: for tests of a race that a timer must lose whatever the machine's load."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


class Holdable:
    """An event source that invokes nothing while held; what falls due meanwhile runs after, late, as AWS may."""

    _held = False

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        self._held = True
        try:
            yield
        finally:
            self._held = False
            self._released()

    def _released(self) -> None:
        """Called on leaving `held()`: a source that sleeps until woken wakes here."""
