"""Prometheus relabelling (``relabel_configs`` / ``metric_relabel_configs``), exactly.

A package of its own: it never imports ``agent``.

Public API::

    rules = relabel.parse([{"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}])
    relabel.process({"__name__": "go_goroutines"}, rules)   # -> None (dropped)
    out, steps = relabel.process_trace(labels, rules)        # per-rule explanation
    r = relabel.Relabeler(rules)                             # cached, for the hot path
    r.apply((("__name__", "go_gc"), ("job", "x")))           # -> None
    r.sweep()                                                # bound the cache (per scrape)
"""

from __future__ import annotations

from relabel._config import RelabelConfigError, Rule, is_valid_label_name, parse
from relabel._engine import Relabeler, process
from relabel._trace import TraceStep, process_trace

__all__ = [
    "RelabelConfigError",
    "Relabeler",
    "Rule",
    "TraceStep",
    "is_valid_label_name",
    "parse",
    "process",
    "process_trace",
]
