"""In-process token buckets, one per key (a client address, an API key).

Each bucket holds at most `burst` tokens and gains `per_second` of them; a request takes one,
and when none is left the caller learns how long until the next. One gateway process keeps its
own buckets: behind several gateway processes the limits add up (a deployment that needs one
shared limit puts it in its proxy). Memory stays bounded: full buckets are forgotten first.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Hashable

from hotline.runtime.settings import Rate


class Buckets:
    def __init__(self, rate: Rate, max_keys: int = 50_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.max_keys, self.clock = rate, max_keys, clock
        self._tokens: dict[Hashable, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()  # sync dependencies run in FastAPI's thread pool

    def _level(self, key: Hashable, now: float) -> float:
        tokens, at = self._tokens.get(key, (self.rate.burst, now))
        return min(self.rate.burst, tokens + (now - at) * self.rate.per_second)

    def _wait(self, level: float) -> float:
        return (1 - level) / self.rate.per_second

    def take(self, key: Hashable) -> float:
        """Take a token: 0.0 when granted, else the seconds until one is there (nothing taken)."""
        with self._lock:
            now = self.clock()
            level = self._level(key, now)
            if level < 1:
                return self._wait(level)
            self._tokens[key] = (level - 1, now)
            if len(self._tokens) > self.max_keys:
                self._forget(now)
            return 0.0

    def empty_for(self, key: Hashable) -> float:
        """Seconds until the bucket holds a token again (0.0 if it holds one); takes nothing."""
        with self._lock:
            level = self._level(key, self.clock())
            return 0.0 if level >= 1 else self._wait(level)

    def _forget(self, now: float) -> None:
        full = [k for k in self._tokens if self._level(k, now) >= self.rate.burst]
        for k in full:
            del self._tokens[k]
        while len(self._tokens) > self.max_keys:  # still too many: drop the oldest entries
            del self._tokens[next(iter(self._tokens))]
