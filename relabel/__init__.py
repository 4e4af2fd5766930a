"""Prometheus relabelling (``relabel_configs`` / ``metric_relabel_configs``), exactly.

A package of its own: it never imports ``agent``.

Public API::

    rules = relabel.parse([{"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}])
    relabel.process({"__name__": "go_goroutines"}, rules)   # -> None (dropped)
"""

from __future__ import annotations

from relabel._engine import RelabelConfigError, Rule, parse, process

__all__ = ["RelabelConfigError", "Rule", "parse", "process"]
