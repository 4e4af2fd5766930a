"""Prometheus relabelling (``relabel_configs`` / ``metric_relabel_configs``), exactly.

A package of its own: it never imports ``agent``.

Public API::

    rules = relabel.parse([{"source_labels": ["__name__"], "regex": "go_.*", "action": "drop"}])
    relabel.process({"__name__": "go_goroutines"}, rules)   # -> None (dropped)
    relabel.process_in_place(lb, rules)                      # faster, see below
    out, steps = relabel.process_trace(labels, rules)        # per-rule explanation
    r = relabel.Relabeler(rules)                             # cached, for the hot path
    r.apply((("__name__", "go_gc"), ("job", "x")))           # -> None
    r.sweep()                                                # bound the cache (per scrape)

``process(labels, rules)`` copies ``labels`` (any mapping, any order, empty values ignored) and
returns a new dict sorted by name. ``process_in_place(labels, rules)`` is the same without the
copy and the sort, for the cold path of a caller that owns a fresh ``dict`` and sorts the
result itself anyway: it relabels ``labels`` in place and returns that same dict (no empty
values, in no particular order) or ``None`` (dropped; ``labels`` is then half-relabelled).
Both run each rule's precompiled closure (``Rule.step``); ``process_trace`` runs the
straightforward reference engine, and the two are tested to agree.
"""

from __future__ import annotations

from relabel._config import RelabelConfigError, Rule, is_valid_label_name, parse
from relabel._engine import Relabeler, process, process_in_place
from relabel._trace import TraceStep, process_trace

__all__ = [
    "RelabelConfigError",
    "Relabeler",
    "Rule",
    "TraceStep",
    "is_valid_label_name",
    "parse",
    "process",
    "process_in_place",
    "process_trace",
]
