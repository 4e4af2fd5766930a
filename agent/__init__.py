"""scrape-agent: a light Prometheus-compatible scraper that pushes OTLP metrics."""

from __future__ import annotations

__version__ = "0.1.0"
