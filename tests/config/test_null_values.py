"""An explicit YAML null is Go's zero value in Prometheus (yaml.v2 skips the field's unmarshaler)."""

from __future__ import annotations

from pathlib import Path

import relabel
from agent.config import loads

FIXTURE = Path(__file__).parents[2] / "fixtures" / "config" / "good" / "null_values.yaml"


def test_null_bool_and_separator_are_zero_values() -> None:
    job = loads(FIXTURE.read_text()).scrape_configs[0]
    assert job.honor_timestamps is False  # default would be True
    rule = job.relabel_configs[0]
    assert rule.separator == ""
    assert relabel.process({"__address__": "a:9100"}, [rule]) == {
        "__address__": "a:9100",
        "addr": "a:9100",
    }


def test_null_regex_matches_only_the_empty_value() -> None:
    cfg = loads(
        "scrape_configs:\n"
        "  - job_name: n\n"
        "    static_configs: [{targets: [a]}]\n"
        "    relabel_configs:\n"
        "      - {source_labels: [env], regex: , action: keep}\n"
    )
    rules = cfg.scrape_configs[0].relabel_configs
    assert relabel.process({"env": "prod"}, rules) is None
    assert relabel.process({"other": "x"}, rules) == {"other": "x"}
