from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.devtools.k8s_apiserver import FakeAPIServer, load_objects

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "k8s"
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture
def cluster_objects() -> list[dict]:
    return load_objects(FIXTURES / "cluster.yaml")


@pytest.fixture
def api(cluster_objects: list[dict]) -> Iterator[FakeAPIServer]:
    with FakeAPIServer(bookmark_interval=0.5) as server:
        server.apply_all(cluster_objects)
        yield server


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests of this directory on a fresh asyncio loop."""
    if inspect.iscoroutinefunction(pyfuncitem.obj):
        args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
        asyncio.run(pyfuncitem.obj(**args))
        return True
    return None
