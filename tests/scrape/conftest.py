"""Shared fixtures for the scrape engine tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import relabel
from agent.config import ScrapeConfig


def _rules(items: list[dict[str, Any]]) -> tuple[Any, ...]:
    try:
        return tuple(relabel.parse(items))
    except NotImplementedError:
        pytest.skip("relabel engine not available yet (relabel.parse is a placeholder)")


def build_scrape_config(d: dict[str, Any]) -> ScrapeConfig:
    """A ScrapeConfig from a plain dict with Prometheus' field names (durations in seconds)."""
    d = dict(d)
    for key in ("relabel_configs", "metric_relabel_configs"):
        if key in d:
            d[key] = _rules(d[key])
    if "params" in d:
        d["params"] = {k: tuple(v) for k, v in d["params"].items()}
    names = {f.name for f in dataclasses.fields(ScrapeConfig)}
    unknown = set(d) - names
    assert not unknown, f"unknown ScrapeConfig fields in test: {unknown}"
    return ScrapeConfig(**d)


@pytest.fixture
def scrape_config() -> Callable[[dict[str, Any]], ScrapeConfig]:
    return build_scrape_config


@pytest.fixture
def ca() -> Iterator[Any]:
    trustme = pytest.importorskip("trustme")
    yield trustme.CA()
