"""Normalising and cutting request text: one jieba tokenizer per catalogue vocabulary."""

from __future__ import annotations

import logging
import threading
import unicodedata

import jieba

_USER_WORD_FREQ = 20000
_jieba_lock = threading.Lock()
_tokenizers: dict[frozenset[str], jieba.Tokenizer] = {}


def _tokenizer(words: frozenset[str]) -> jieba.Tokenizer:
    """One jieba tokenizer per vocabulary, built once: loading the dictionary costs ~0.5 s."""
    with _jieba_lock:
        tok = _tokenizers.get(words)
        if tok is None:
            jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict..." chatter
            tok = jieba.Tokenizer()
            tok.initialize()
            for word in sorted(words):
                tok.add_word(word, freq=_USER_WORD_FREQ)
            _tokenizers[words] = tok
        return tok


def normalise(text: str) -> str:
    """Full-width to half-width, lower case, no whitespace: what callers type varies."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(text.split())
