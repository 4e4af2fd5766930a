"""The agent's logs: logfmt (default) or JSON lines, levels, secrets never printed.

Usage::

    from agent import logs
    logs.setup(fmt="logfmt", level="info")          # once, in the command's main()
    log = logging.getLogger("agent.scrape")
    log.warning("scrape failed", extra={"job": "ksm", "target": url, "err": str(exc)})

prints::

    ts=2026-11-21T23:57:23.123Z level=warn logger=agent.scrape msg="scrape failed" job=ksm target=...

Anything passed in ``extra`` becomes a ``key=value`` pair (a JSON field with ``--log.format=json``).

Secrets: every line goes through :func:`redact`, which hides values registered with
:func:`register_secret` (the loader's inline credentials, passwords, OTLP header values, the
contents of token files) and anything that looks like an ``Authorization`` header value
(``Bearer xxx`` / ``Basic xxx``).

State changes: :class:`StateLog` says a per-key state once, when it changes (a target going down,
then up again), not on every scrape interval.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, Any

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("logfmt", "json")
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "error",
}
# LogRecord attributes that are not user-supplied ``extra`` fields.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
REDACTED = "<redacted>"
# An Authorization-like header or a credential-looking query parameter.
_AUTH_RE = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{4,}"
    r"|(?i:(authorization|api[-_]?key|signoz-ingestion-key|x-api-key|token|password|passwd)"
    r"([\"']?\s*[:=]\s*[\"']?))(?i:(?:bearer|basic)\s+)?[^\s\"',;&]+"
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secrets_re: re.Pattern[str] | None = None


def register_secret(value: str) -> None:
    """Never print ``value`` (and its surrounding whitespace-stripped form) in a log line."""
    global _secrets_re
    v = value.strip()
    if len(v) < 4:  # too short to redact without mangling ordinary words
        return
    with _secrets_lock:
        if v in _secrets:
            return
        _secrets.add(v)
        ordered = sorted(_secrets, key=len, reverse=True)
        _secrets_re = re.compile("|".join(re.escape(s) for s in ordered))


def register_secrets(values: Iterable[str]) -> None:
    for v in values:
        register_secret(v)


def redact(text: str) -> str:
    """``text`` with registered secrets and Authorization-like values replaced."""
    pattern = _secrets_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    return _AUTH_RE.sub(_auth_sub, text)


def _auth_sub(m: re.Match[str]) -> str:
    if m.group(1):  # "Bearer xxx"
        return f"{m.group(1)} {REDACTED}"
    return f"{m.group(2)}{m.group(3)}{REDACTED}"


def _ts(created: float) -> str:
    t = time.gmtime(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{int(created % 1 * 1000):03d}Z"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {
        k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")
    }


def _logfmt_value(v: object) -> str:
    s = v if isinstance(v, str) else str(v)
    if s == "" or any(c in s for c in ' "=\\\n\t') or not s.isprintable():
        return json.dumps(s, ensure_ascii=False)
    return s


class LogfmtFormatter(logging.Formatter):
    """``ts=… level=info logger=… msg="…" k=v …`` on one line, secrets redacted."""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            f"ts={_ts(record.created)}",
            f"level={_LEVEL_NAMES.get(record.levelno, 'info')}",
            f"logger={record.name}",
            f"msg={_logfmt_value(record.getMessage())}",
        ]
        for k, v in _extras(record).items():
            parts.append(f"{k}={_logfmt_value(v)}")
        if record.exc_info and record.exc_info[0] is not None:
            parts.append(f"exc={_logfmt_value(self.formatException(record.exc_info))}")
        return redact(" ".join(parts))


class JSONFormatter(logging.Formatter):
    """One JSON object per line: ``{"ts": …, "level": …, "logger": …, "msg": …, k: v}``."""

    def format(self, record: logging.LogRecord) -> str:
        obj: dict[str, Any] = {
            "ts": _ts(record.created),
            "level": _LEVEL_NAMES.get(record.levelno, "info"),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in _extras(record).items():
            obj[k] = v if isinstance(v, (int, float, bool)) or v is None else str(v)
        if record.exc_info and record.exc_info[0] is not None:
            obj["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(obj, ensure_ascii=False))


_HANDLER_TAG = "_scrape_agent_handler"


def setup(fmt: str = "logfmt", level: str = "info", stream: IO[str] | None = None) -> None:
    """Configure the root logger: one handler writing ``fmt`` lines at ``level`` to stderr.

    Raises ``ValueError`` with a sentence naming the valid values for an unknown format/level.
    Calling it again replaces the previous handler (no duplicated lines).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown --log.format {fmt!r}: use one of {', '.join(FORMATS)}")
    if level not in LEVELS:
        raise ValueError(f"unknown --log.level {level!r}: use one of {', '.join(LEVELS)}")
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, _HANDLER_TAG, False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JSONFormatter() if fmt == "json" else LogfmtFormatter())
    setattr(handler, _HANDLER_TAG, True)
    root.addHandler(handler)
    root.setLevel(LEVELS[level])
    # Third-party libraries are chatty at debug; keep them at warn unless asked for debug.
    for noisy in ("httpx", "httpcore", "kubernetes", "urllib3", "asyncio", "hpack", "grpc"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


class StateLog:
    """Log a keyed state once per change, not on every interval.

    ``update(key, state, msg, **fields)`` logs ``msg`` (at ``level_for(state)``) only when
    ``state`` differs from the last state seen for ``key``; the first state of a key is logged
    only when it is not ``quiet_initial`` (so "up" at start-up is silent, "down" is not).
    """

    def __init__(
        self,
        logger: logging.Logger,
        quiet_initial: Iterable[str] = ("up", "ok"),
        bad_states: Iterable[str] = ("down", "error", "failing"),
    ) -> None:
        self._log = logger
        self._states: dict[object, str] = {}
        self._quiet = frozenset(quiet_initial)
        self._bad = frozenset(bad_states)
        self._lock = threading.Lock()

    def update(self, key: object, state: str, msg: str, **fields: Any) -> bool:
        """Record ``state`` for ``key``; returns True when a line was logged."""
        with self._lock:
            prev = self._states.get(key)
            if prev == state:
                return False
            self._states[key] = state
        if prev is None and state in self._quiet:
            return False
        level = logging.WARNING if state in self._bad else logging.INFO
        self._log.log(
            level, msg, extra={"state": state, **({"previous": prev} if prev else {}), **fields}
        )
        return True

    def get(self, key: object) -> str | None:
        """The last state recorded for ``key`` (``None`` if never seen)."""
        return self._states.get(key)

    def forget(self, key: object) -> None:
        with self._lock:
            self._states.pop(key, None)

    def keys(self) -> list[object]:
        with self._lock:
            return list(self._states)
