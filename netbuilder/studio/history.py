"""Undo/redo over immutable values (ModelSpecs): keeping old values is all undo needs."""

from __future__ import annotations

from collections import deque

from ..engine.errors import LayerConfigError
from ..engine.limits import MAX_UNDO_STEPS


class History:
    """The present value, the values before it (undo) and after it (redo); at most `limit` undo steps, and
    — when values can be large (trained weights) — at most `max_bytes` of them besides the present, by `size_of`."""

    def __init__(self, present, limit: int = MAX_UNDO_STEPS, size_of=None, max_bytes: int | None = None):
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise LayerConfigError(f"history limit must be a positive integer; received {limit!r}")
        self.present = present
        self.limit = limit
        self.size_of, self.max_bytes = size_of, max_bytes
        self._past = deque(maxlen=limit)  # maxlen drops the oldest step, so memory stays bounded
        self._future = []  # redo holds only undone steps, so it is bounded by the same limit
        self.dropped = 0  # undo steps given up to stay within max_bytes

    def _trim(self) -> None:
        """Drop the oldest undo steps (then the farthest redo steps) until the kept values fit max_bytes."""
        if self.size_of is None or self.max_bytes is None:
            return
        held = lambda: sum(map(self.size_of, self._past)) + sum(map(self.size_of, self._future))  # noqa: E731
        while held() > self.max_bytes and (self._past or self._future):
            (self._past.popleft() if self._past else self._future.pop(0))
            self.dropped += 1

    @property
    def can_undo(self) -> bool:
        return bool(self._past)

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    def push(self, new) -> bool:
        """Make `new` the present (clearing redo); an equal value changes nothing. True if recorded."""
        if new == self.present:
            return False
        self._past.append(self.present)
        self.present = new
        self._future.clear()
        self._trim()
        return True

    def undo(self):
        """Step back and return the new present (unchanged when there is nothing to undo)."""
        if self._past:
            self._future.append(self.present)
            self.present = self._past.pop()
            self._trim()
        return self.present

    def redo(self):
        """Step forward again and return the new present (unchanged when there is nothing to redo)."""
        if self._future:
            self._past.append(self.present)
            self.present = self._future.pop()
            self._trim()
        return self.present

    def __len__(self) -> int:
        """Number of values held: past, present and future."""
        return len(self._past) + 1 + len(self._future)

    def __repr__(self):
        return f"History({len(self._past)} undo, {len(self._future)} redo, present={self.present!r})"
