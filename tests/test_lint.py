"""The guards that keep the code as README "Architecture" describes it: ruff (lint and import
order), mypy (types) and import-linter (the layers), as configured in pyproject.toml."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [["ruff", "check", "."], ["mypy"], ["lint-imports"]],
                         ids=["ruff", "mypy", "import-contracts"])
def test_the_tree_passes(command):
    done = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"{' '.join(command)} found problems:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
