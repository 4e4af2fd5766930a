"""Build scrape targets from discovered groups, exactly as Prometheus' ``PopulateLabels``.

Input: one ``TargetGroup`` and the job's ``ScrapeConfig``. Output: one ``TargetResult`` per
target of the group: a ``Target`` to scrape, or ``target=None`` when relabelling dropped it
(``error`` is then empty) or when its labels are unusable (``error`` says why).

Steps (P scrape/target.go ``PopulateDiscoveredLabels`` / ``PopulateLabels``):

1. target labels, then group labels where the target has none;
2. defaults where missing or empty: ``job``, ``__scrape_interval__``, ``__scrape_timeout__``,
   ``__metrics_path__``, ``__scheme__``, ``__param_<k>`` (first value of ``params[k]``);
   these are the *discovered labels* (the targets page and dropped targets show them);
3. ``relabel_configs``; a drop drops the target;
4. checks: ``__address__`` present and without ``/``, interval/timeout parse, are non-zero
   and timeout <= interval;
5. ``__meta_*`` labels removed, ``instance`` defaults to ``__address__``;
6. labels beginning with ``__`` are not attached to scraped series.

Pure: no I/O.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import quote

import relabel
from agent.config import ScrapeConfig
from agent.model import Labels, TargetGroup

ADDRESS = "__address__"
SCHEME = "__scheme__"
METRICS_PATH = "__metrics_path__"
SCRAPE_INTERVAL = "__scrape_interval__"
SCRAPE_TIMEOUT = "__scrape_timeout__"
PARAM_PREFIX = "__param_"
META_PREFIX = "__meta_"
RESERVED_PREFIX = "__"

_DURATION_RE = re.compile(
    r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$"
)
_DURATION_MS = (
    1000 * 60 * 60 * 24 * 365,
    1000 * 60 * 60 * 24 * 7,
    1000 * 60 * 60 * 24,
    1000 * 60 * 60,
    1000 * 60,
    1000,
    1,
)
_DURATION_UNITS = ("y", "w", "d", "h", "m", "s", "ms")


def format_duration(seconds: float) -> str:
    """Prometheus' ``model.Duration.String()``: ``60.0`` -> ``"1m"``, ``90.0`` -> ``"1m30s"``."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = []
    for i, (unit, mult) in enumerate(zip(_DURATION_UNITS, _DURATION_MS, strict=True)):
        # Years and weeks only when exact, as Prometheus (90d reads better than 12w6d).
        if i < 2 and ms % mult != 0:
            continue
        v = ms // mult
        if v > 0:
            out.append(f"{v}{unit}")
            ms -= v * mult
    return "".join(out)


def parse_duration(text: str) -> float:
    """Prometheus' ``model.ParseDuration`` -> seconds; raises ``ValueError`` as it does."""
    if text == "":
        raise ValueError("empty duration string")
    if text == "0":
        return 0.0
    m = _DURATION_RE.match(text)
    if m is None:
        raise ValueError(f'not a valid duration string: "{text}"')
    ms = 0
    for group, mult in zip(m.groups(), _DURATION_MS, strict=True):
        if group is not None:
            ms += int(group) * mult
    return ms / 1000.0


def _fnv64a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def _query_escape(s: str) -> str:
    # Go's url.QueryEscape: space -> '+', everything but unreserved percent-encoded.
    return quote(s, safe="").replace("%20", "+")


def build_url(populated: Mapping[str, str], params: Mapping[str, tuple[str, ...]]) -> str:
    """The scrape URL as Prometheus' ``Target.URL()`` (``__param_*`` override the first value)."""
    query: dict[str, list[str]] = {k: list(v) for k, v in params.items()}
    for name, value in populated.items():
        if name.startswith(PARAM_PREFIX):
            key = name[len(PARAM_PREFIX) :]
            if query.get(key):
                query[key][0] = value
            else:
                query[key] = [value]
    url = f"{populated.get(SCHEME, '')}://{populated.get(ADDRESS, '')}"
    url += quote(populated.get(METRICS_PATH, ""), safe="/:@!$&'()*+,;=~")
    if query:
        url += "?" + "&".join(
            f"{_query_escape(k)}={_query_escape(v)}" for k in sorted(query) for v in query[k]
        )
    return url


@dataclass(frozen=True, eq=False)
class Target:
    """One target to scrape. Immutable; ``key`` identifies it across reloads and syncs."""

    job: str
    labels: Labels  # attached to every scraped series (no ``__`` labels)
    populated_labels: Mapping[str, str]  # after relabel_configs, incl. __address__ etc.
    discovered_labels: Mapping[str, str]  # before relabel_configs, with defaults
    url: str
    scheme: str
    interval: float
    timeout: float
    key: int = field(default=0)

    @property
    def instance(self) -> str:
        return dict(self.labels).get("instance", "")

    def offset(self, interval: float, seed: int = 0, now: float | None = None) -> float:
        """Seconds until this target's first scrape, as Prometheus' ``Target.offset``.

        The phase is pinned to absolute time (``now`` modulo the interval) plus a hash of the
        target, so it is stable across restarts and spreads targets over the interval.
        """
        iv = max(1, int(interval * 1e9))
        now_ns = time.time_ns() if now is None else int(now * 1e9)
        base = iv - now_ns % iv
        off = (self.key ^ seed) % iv
        nxt = base + off
        if nxt > iv:
            nxt -= iv
        return nxt / 1e9


@dataclass(frozen=True)
class TargetResult:
    discovered_labels: Mapping[str, str]
    target: Target | None = None
    error: str | None = None


def discovered_labels(
    target: Mapping[str, str], group_labels: Mapping[str, str], cfg: ScrapeConfig
) -> dict[str, str]:
    """``PopulateDiscoveredLabels``: target + group labels + the job's defaults."""
    lb = {k: v for k, v in target.items() if v != ""}
    for k, v in group_labels.items():
        if k not in target and v != "":
            lb[k] = v
    defaults = (
        ("job", cfg.job_name),
        (SCRAPE_INTERVAL, format_duration(cfg.scrape_interval)),
        (SCRAPE_TIMEOUT, format_duration(cfg.scrape_timeout)),
        (METRICS_PATH, cfg.metrics_path),
        (SCHEME, cfg.scheme),
    )
    for k, v in defaults:
        if not lb.get(k) and v != "":
            lb[k] = v
    for k, values in cfg.params.items():
        name = PARAM_PREFIX + k
        if values and not lb.get(name) and values[0] != "":
            lb[name] = values[0]
    return lb


def populate_labels(
    discovered: Mapping[str, str], cfg: ScrapeConfig
) -> tuple[dict[str, str] | None, str | None]:
    """Apply relabel_configs and Prometheus' checks to discovered labels.

    Returns ``(labels, None)`` for a target, ``(None, None)`` when relabelling dropped it and
    ``(None, error)`` when the result is unusable.
    """
    if cfg.relabel_configs:
        result = relabel.process(discovered, cfg.relabel_configs)
        if result is None:
            return None, None
        lb = {k: v for k, v in result.items() if v != ""}
    else:
        lb = dict(discovered)
    addr = lb.get(ADDRESS, "")
    if addr == "":
        return None, "no address"
    if "/" in addr:
        return None, f'"{addr}" is not a valid hostname'
    interval_s = lb.get(SCRAPE_INTERVAL, "")
    timeout_s = lb.get(SCRAPE_TIMEOUT, "")
    try:
        interval = parse_duration(interval_s)
    except ValueError as exc:
        return None, f"error parsing scrape interval: {exc}"
    if interval == 0:
        return None, "scrape interval cannot be 0"
    try:
        timeout = parse_duration(timeout_s)
    except ValueError as exc:
        return None, f"error parsing scrape timeout: {exc}"
    if timeout == 0:
        return None, "scrape timeout cannot be 0"
    if timeout > interval:
        return (
            None,
            f'scrape timeout cannot be greater than scrape interval ("{timeout_s}" > "{interval_s}")',
        )
    for name in [n for n in lb if n.startswith(META_PREFIX)]:
        del lb[name]
    if not lb.get("instance"):
        lb["instance"] = addr
    for name, value in lb.items():
        if "\ufffd" in value or _has_surrogate(value):
            return None, f'invalid label value for "{name}": "{value}"'
    return lb, None


def _has_surrogate(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def make_target(cfg: ScrapeConfig, populated: dict[str, str], discovered: dict[str, str]) -> Target:
    public: Labels = tuple(
        sorted((k, v) for k, v in populated.items() if not k.startswith(RESERVED_PREFIX))
    )
    url = build_url(populated, cfg.params)
    interval = parse_duration(populated[SCRAPE_INTERVAL])
    timeout = parse_duration(populated[SCRAPE_TIMEOUT])
    # Identity as Prometheus' Target.hash(): the full label set (incl. __ labels) and the URL.
    ident = "\xff".join(f"{k}\xfe{v}" for k, v in sorted(populated.items()))
    key = _fnv64a(ident.encode("utf-8", "surrogatepass") + b"\xff" + url.encode())
    return Target(
        job=cfg.job_name,
        labels=public,
        populated_labels=populated,
        discovered_labels=discovered,
        url=url,
        scheme=populated.get(SCHEME, cfg.scheme),
        interval=interval,
        timeout=timeout,
        key=key,
    )


def build_targets(group: TargetGroup, cfg: ScrapeConfig) -> list[TargetResult]:
    """Every target of ``group`` as a ``TargetResult`` (see the module docstring)."""
    out: list[TargetResult] = []
    for i, tlabels in enumerate(group.targets):
        disc = discovered_labels(tlabels, group.labels, cfg)
        populated, err = populate_labels(disc, cfg)
        if err is not None:
            out.append(
                TargetResult(disc, None, f"instance {i} in group {group.source or '?'}: {err}")
            )
        elif populated is None:
            out.append(TargetResult(disc, None, None))
        else:
            out.append(TargetResult(disc, make_target(cfg, populated, disc), None))
    return out
