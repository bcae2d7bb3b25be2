from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def fresh_django_guard() -> Iterator[None]:
    """Every test starts on a new process-wide guard (a manual clock at 0)."""
    try:
        from loginguard.django import conf
    except ImportError:  # Django not installed: the binding tests still run
        yield
        return
    conf.reset()
    yield
    conf.reset()
