"""Where routing models live: var/routing-models/<version>.joblib and `current` naming the
promoted one (issue 19). The first use trains the base model from the shipped corpus (fixed
seed: the same file everywhere) and caches it; every process picks up a promotion on its next
routing (one stat of `current`).

HOTLINE_ROUTING_MODEL=off routes from the responsibility lists only.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import joblib

from hotline.routing_model import RoutingModel, corpus_rows, train

log = logging.getLogger(__name__)


def default_dir() -> Path:
    from hotline.settings import VAR_DIR
    return Path(os.environ.get("HOTLINE_ROUTING_MODEL_DIR", VAR_DIR / "routing-models"))


class ModelStore:
    def __init__(self, directory: Path | None = None, train_if_missing: bool = True):
        self.dir = Path(directory) if directory else default_dir()
        self.train_if_missing = train_if_missing
        self._lock = threading.Lock()
        self._loaded: tuple[float, RoutingModel] | None = None
        self._failed = False

    @property
    def current_file(self) -> Path:
        return self.dir / "current"

    def active(self) -> RoutingModel | None:
        """The promoted model, None when there is none (or it cannot be read)."""
        if os.environ.get("HOTLINE_ROUTING_MODEL", "auto").lower() == "off":
            return None
        try:
            mtime = self.current_file.stat().st_mtime
        except FileNotFoundError:
            if not self.train_if_missing or self._failed:
                return None
            return self.ensure_base()
        if self._loaded is not None and self._loaded[0] == mtime:
            return self._loaded[1]
        with self._lock:
            version = self.current_file.read_text().strip()
            model = self.load(version)
            self._loaded = (mtime, model)
            return model

    def load(self, version: str) -> RoutingModel:
        return joblib.load(self.dir / f"{version}.joblib")

    def save(self, model: RoutingModel) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{model.version}.joblib"
        tmp = path.with_suffix(".tmp")
        joblib.dump(model, tmp)
        tmp.replace(path)
        return path

    def promote(self, model: RoutingModel) -> None:
        self.save(model)
        tmp = self.dir / "current.tmp"
        tmp.write_text(model.version + "\n")
        tmp.replace(self.current_file)  # atomic: readers see the old or the new version

    def current_version(self) -> str | None:
        try:
            return self.current_file.read_text().strip()
        except FileNotFoundError:
            return None

    def ensure_base(self) -> RoutingModel | None:
        with self._lock:
            if self.current_file.exists():
                version = self.current_file.read_text().strip()
                return self.load(version)
            try:
                model = train(corpus_rows())
                self.promote(model)
            except Exception:
                log.exception("routing model could not be trained: evidence only")
                self._failed = True
                return None
            log.info("routing model %s trained from the shipped corpus", model.version)
            return model


def learned_router(catalogue, store: ModelStore | None = None):
    """The router production uses: the evidence with the promoted model blended in."""
    from hotline.routing_blend import LearnedRouter
    return LearnedRouter(catalogue, store or ModelStore())
