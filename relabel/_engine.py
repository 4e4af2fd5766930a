"""Placeholder until the relabel engine lands (issue 2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class RelabelConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    action: str = "replace"


def parse(configs: list[dict[str, Any]]) -> list[Rule]:
    raise NotImplementedError


def process(labels: Mapping[str, str], rules: Sequence[Rule]) -> dict[str, str] | None:
    raise NotImplementedError
