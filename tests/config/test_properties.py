"""Property tests: value syntaxes round-trip, and no input makes the loader crash."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config import Config, ConfigError, loads
from agent.config._load import GLOBAL_KEYS, SCRAPE_KEYS
from agent.config._units import format_duration, parse_duration


@given(st.integers(min_value=0, max_value=10 * 365 * 24 * 3600 * 1000))
def test_duration_round_trip(ms: int) -> None:
    assert round(parse_duration(format_duration(ms / 1000)) * 1000) == ms


_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        ["", "15s", "1m", "$1", "$$", "${env:X}", "(.*)", "a:1", "http://x/y", "TLS12", "pod"]
    ),
    st.text(max_size=8),
)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["role", "targets", "labels", "files", "action", "regex", "source_labels", "x"]
            ),
            inner,
            max_size=3,
        ),
    ),
    max_leaves=12,
)
_job = st.dictionaries(st.sampled_from(sorted(SCRAPE_KEYS)), _value, max_size=6).map(
    lambda d: {"job_name": "j", **d}
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_job, max_size=3), st.booleans())
def test_loader_never_crashes(jobs: list[dict[str, object]], collector: bool) -> None:
    doc: dict[str, object] = {"scrape_configs": jobs}
    if collector:
        doc = {"receivers": {"prometheus": {"config": doc}}}
    text = yaml.safe_dump(doc)
    try:
        cfg = loads(text, source="fuzz.yml", env={"X": "1"})
    except ConfigError as exc:
        assert exc.errors
        assert all(e.startswith("fuzz.yml") for e in exc.errors)
    else:
        assert isinstance(cfg, Config)


_agent_keys = ["otlp", "queue", "node_local", "start_time", "cluster_name", "resource_attributes"]
_sub_keys = [
    "endpoint",
    "protocol",
    "headers",
    "timeout",
    "tls",
    "max_bytes",
    "enabled",
    "insecure",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(st.sampled_from(sorted(GLOBAL_KEYS)), _value, max_size=4),
    st.dictionaries(
        st.sampled_from(_agent_keys),
        st.one_of(_value, st.dictionaries(st.sampled_from(_sub_keys), _value, max_size=3)),
        max_size=4,
    ),
)
def test_global_and_agent_sections_never_crash(
    glob: dict[str, object], agent: dict[str, object]
) -> None:
    text = yaml.safe_dump({"global": glob, "scrape_agent": agent})
    try:
        loads(text, source="fuzz.yml", env={"OTEL_EXPORTER_OTLP_HEADERS": "a=b"})
    except ConfigError as exc:
        assert all(e.startswith("fuzz.yml") for e in exc.errors)
