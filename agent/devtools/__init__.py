"""Helpers for tests, demos and benchmarks (real servers on 127.0.0.1)."""

from __future__ import annotations
