from __future__ import annotations

import platform

import pytest

from agent.scrape import memory


def test_operator_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert memory.limit_malloc_arenas() is False


def test_cap_is_set_on_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    if platform.libc_ver()[0] != "glibc":
        assert memory.limit_malloc_arenas() is False
    else:
        assert memory.limit_malloc_arenas() is True
