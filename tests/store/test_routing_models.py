"""Routing models pickled by an earlier release still load after the module they name moved."""
from __future__ import annotations

import pickle

from hotline.domain.routing import model as model_module
from hotline.store.routing_models import load_model


def test_a_model_pickled_under_the_former_module_loads(tmp_path):
    old = pickle.dumps(model_module.label_of, protocol=0).replace(
        b"hotline.domain.routing.model", b"hotline.routing_model")
    assert b"hotline.routing_model" in old
    path = tmp_path / "before-the-move.joblib"
    path.write_bytes(old)
    assert load_model(path) is model_module.label_of
