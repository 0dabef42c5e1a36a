"""How deeply a JSON text nests, measured chunk by chunk as the body arrives.

Python's json parser recurses once per `[` or `{`: two thousand of them raise RecursionError,
which no handler expects. The gateway measures the nesting while it reads the body and refuses
it before any parser runs. Only the structural characters are looked at, so text-heavy bodies
cost little; quotes and backslashes are followed so that brackets inside strings do not count.
"""
from __future__ import annotations

import re

_SPECIAL = re.compile(rb'["\\\[\]{}]')


class DepthMeter:
    def __init__(self) -> None:
        self.depth = 0
        self.deepest = 0
        self._in_string = False
        self._escaped_at = -1  # absolute offset of the character a backslash escapes
        self._offset = 0

    def feed(self, chunk: bytes) -> int:
        """Scan the next chunk; returns the deepest nesting seen so far."""
        base = self._offset
        for m in _SPECIAL.finditer(chunk):
            at, c = base + m.start(), m.group()
            if self._in_string:
                if at == self._escaped_at:
                    continue
                if c == b"\\":
                    self._escaped_at = at + 1
                elif c == b'"':
                    self._in_string = False
            elif c == b'"':
                self._in_string = True
            elif c in (b"[", b"{"):
                self.depth += 1
                if self.depth > self.deepest:
                    self.deepest = self.depth
            elif c in (b"]", b"}") and self.depth:
                self.depth -= 1
        self._offset += len(chunk)
        return self.deepest
