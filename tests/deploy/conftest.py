"""The deployment files, parsed once per module for the tests of this folder."""
from __future__ import annotations

import pytest

from tests.deploy.compose_support import DOCKERFILE, dockerfile_instructions, load_compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions(DOCKERFILE.read_text(encoding="utf-8"))
