from __future__ import annotations

import io
import json
import logging

import pytest

from agent import logs


@pytest.fixture
def capture() -> io.StringIO:
    buf = io.StringIO()
    logs.setup("logfmt", "debug", stream=buf)
    yield buf
    logs.setup("logfmt", "info")


def test_logfmt_line_shape(capture: io.StringIO) -> None:
    logging.getLogger("agent.test").info(
        "scrape failed", extra={"job": "ksm", "err": 'bad "thing"', "n": 3}
    )
    line = capture.getvalue().strip()
    assert line.startswith("ts=")
    assert " level=info logger=agent.test " in line
    assert 'msg="scrape failed"' in line
    assert "job=ksm" in line and "n=3" in line
    assert 'err="bad \\"thing\\""' in line
    assert "\n" not in line


def test_levels_filter(capture: io.StringIO) -> None:
    logs.setup("logfmt", "warn", stream=capture)
    log = logging.getLogger("agent.test")
    log.info("hidden")
    log.warning("shown")
    out = capture.getvalue()
    assert "hidden" not in out and "level=warn" in out and "shown" in out


def test_json_format(capture: io.StringIO) -> None:
    logs.setup("json", "info", stream=capture)
    logging.getLogger("agent.test").error("boom", extra={"target": "https://x:1/metrics"})
    obj = json.loads(capture.getvalue())
    assert obj["level"] == "error" and obj["msg"] == "boom"
    assert obj["target"] == "https://x:1/metrics" and obj["ts"].endswith("Z")


def test_setup_twice_does_not_duplicate(capture: io.StringIO) -> None:
    logs.setup("logfmt", "info", stream=capture)
    logs.setup("logfmt", "info", stream=capture)
    logging.getLogger("agent.test").info("once")
    assert capture.getvalue().count("once") == 1


def test_bad_flags_are_sentences() -> None:
    with pytest.raises(ValueError, match="logfmt, json"):
        logs.setup("xml", "info")
    with pytest.raises(ValueError, match="debug, info, warn, error"):
        logs.setup("logfmt", "loud")


def test_registered_secrets_and_auth_headers_are_redacted(capture: io.StringIO) -> None:
    logs.register_secret("s3cr3t-token-value\n")
    log = logging.getLogger("agent.test")
    log.warning("request failed", extra={"hdr": "Authorization: Bearer abc.def-ghi"})
    log.warning("token is s3cr3t-token-value here")
    log.warning("url", extra={"u": "http://h/?api_key=XYZ123&x=1", "p": "password=hunter22"})
    out = capture.getvalue()
    for secret in ("s3cr3t-token-value", "abc.def-ghi", "XYZ123", "hunter22"):
        assert secret not in out
    assert out.count(logs.REDACTED) >= 4
    assert "x=1" in out  # ordinary values survive


def test_redact_leaves_plain_text() -> None:
    text = "scrape of https://10.0.0.1:8443/metrics failed: connection refused"
    assert logs.redact(text) == text


def test_state_log_says_each_change_once(capture: io.StringIO) -> None:
    sl = logs.StateLog(logging.getLogger("agent.test"))
    assert sl.update("t1", "up", "target up") is False  # initial "up" is quiet
    assert sl.update("t1", "up", "target up") is False
    assert sl.update("t1", "down", "target down", err="refused") is True
    assert sl.update("t1", "down", "target down", err="refused") is False
    assert sl.update("t1", "up", "target up") is True
    assert sl.update("t2", "down", "target down") is True  # initial "down" is said
    lines = capture.getvalue().strip().splitlines()
    assert len(lines) == 3
    assert "level=warn" in lines[0] and "state=down" in lines[0] and "previous=up" in lines[0]
    assert "level=info" in lines[1] and "state=up" in lines[1]
    sl.forget("t1")
    assert "t1" not in sl.keys()
