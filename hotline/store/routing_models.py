"""Where routing models live: var/routing-models/<version>.joblib and `current` naming the
promoted one (issue 19); every process picks up a promotion on its next routing (one stat of
`current`). HOTLINE_ROUTING_MODEL=off routes from the responsibility lists only.

The base model (the shipped corpus alone) is trained at first use, not shipped. Why: it is a
pure function of the corpus and the code (fixed seed, its version a hash of both), so a shipped
pickle would be a 3.6 MB binary tied to one scikit-learn release that every corpus edit must
remember to rebuild. Instead training takes ~5 s (the sag solver) and the result is cached per
user under ~/.cache/hotline12345/routing-base/ keyed by model version and scikit-learn version:
a fresh clone trains once, and every stack test, `./run.sh` and test gateway with its own var
directory copies the cached file. Writes go to a unique temporary file and os.replace, and one
process trains while the others wait on a file lock, so parallel starts never race or repeat.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import tempfile
import threading
from pathlib import Path

import joblib
import sklearn

from hotline.domain.routing import model as model_module
from hotline.domain.routing.model import RoutingModel, corpus_rows, model_version, train

log = logging.getLogger(__name__)


def default_dir() -> Path:
    from hotline.runtime.settings import VAR_DIR
    return Path(os.environ.get("HOTLINE_ROUTING_MODEL_DIR", VAR_DIR / "routing-models"))


def base_cache_dir() -> Path:
    env = os.environ.get("HOTLINE_ROUTING_BASE_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hotline12345" / "routing-base"


@contextlib.contextmanager
def file_lock(directory: Path):
    """An exclusive lock between processes (threads of one process use ModelStore._lock)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _atomic_write(path: Path, write) -> None:
    """write(tmp) then os.replace: a reader sees the old file or the whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # as a plain write would leave it
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# Where RoutingModel lived before the layout of hotline/ into subpackages: models pickled then
# (a promoted model in the store, the per-user cache of the base model) name that module.
_FORMER_MODULES = ("hotline.routing_model",)


def load_model(path: Path) -> RoutingModel:
    """A pickled model, whichever release wrote it."""
    for name in _FORMER_MODULES:
        sys.modules.setdefault(name, model_module)
    return joblib.load(path)


def base_model() -> RoutingModel:
    """The model of the shipped corpus alone, from the per-user cache or trained (once)."""
    rows = corpus_rows()
    version = model_version(rows, [1.0] * len(rows))
    cache = base_cache_dir()
    path = cache / f"{version}-sklearn{sklearn.__version__}.joblib"
    try:
        with file_lock(cache):
            if path.exists():
                return load_model(path)
            model = train(rows)
            _atomic_write(path, lambda tmp: joblib.dump(model, tmp))
            return model
    except OSError:  # no writable cache (a read-only home): train in memory
        log.warning("no routing model cache at %s: training in memory", cache)
        return train(rows)


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
        return load_model(self.dir / f"{version}.joblib")

    def save(self, model: RoutingModel) -> Path:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{model.version}.joblib"
        _atomic_write(path, lambda tmp: joblib.dump(model, tmp))
        return path

    def promote(self, model: RoutingModel) -> None:
        self.save(model)
        # atomic: readers see the old or the new version
        _atomic_write(self.current_file, lambda tmp: tmp.write_text(model.version + "\n"))

    def current_version(self) -> str | None:
        try:
            return self.current_file.read_text().strip()
        except FileNotFoundError:
            return None

    def ensure_base(self) -> RoutingModel | None:
        with self._lock:
            try:
                with file_lock(self.dir):  # another process may be promoting the base now
                    if self.current_file.exists():
                        return self.load(self.current_file.read_text().strip())
                    model = base_model()
                    self.promote(model)
            except Exception:
                log.exception("routing model could not be loaded or trained: evidence only")
                self._failed = True
                return None
            log.info("routing model %s promoted from the shipped corpus", model.version)
            return model


def make_router(db=None, *, learned: bool = True, models=None, catalogue=None):
    """The one way to build the routing Router, over the catalogue in force (hotline.store.units
    catalogue_in_force: the database's registry, else the shipped file) unless one is given.
    learned: the evidence with the promoted model blended in (what intake and the gateway
    answer with); otherwise the evidence alone (the worker only recommends on returns, which
    the model does not touch; tests want no model). models: where the model comes from (a
    ModelSource; default the model directory's promoted one)."""
    if catalogue is None:
        from hotline.store.units import catalogue_in_force
        catalogue = catalogue_in_force(db)
    if not learned:
        from hotline.domain.routing.router import Router
        return Router(catalogue)
    from hotline.domain.routing.blend import LearnedRouter
    return LearnedRouter(catalogue, models if models is not None else ModelStore())
