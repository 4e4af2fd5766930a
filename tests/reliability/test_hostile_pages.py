"""Hostile expositions through the real scrape path.

1. One agent process scrapes every case of the OpenMetrics parser test suite and of Prometheus'
   parser error cases (from ../shared/realdata when present) and 200 seeded mutations of real
   pages, each served by a real HTTP target. Whatever the parser rejects must show as ``up`` 0
   with a line-numbered ``lastError`` on ``/api/v1/targets``; nothing may raise out of a scrape,
   hang it or blow up memory.
2. Hypothesis drives the in-process scrape path (``ScrapeLoop`` + ``ScrapeClient`` over a real
   socket) with generated pages and checks each scrape's outcome.
(The parser alone is fuzzed far harder in tests/parse/test_fuzz.py.)
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import AgentProcess, wait_until

from agent.config import ScrapeConfig
from agent.devtools.otlp_receiver import OTLPReceiver
from agent.devtools.target_server import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    Page,
    TargetServer,
)
from agent.model import ScrapeBatch, TargetGroup
from agent.scrape.http import ScrapeClient
from agent.scrape.loop import JobStats, ScrapeLoop
from agent.scrape.parse import ParseError, Parser
from agent.scrape.targets import build_targets

pytestmark = pytest.mark.timeout(120)

ROOT = Path(__file__).resolve().parents[2]
REALDATA = ROOT.parent / "shared" / "realdata"
SUITE = REALDATA / "openmetrics_testsuite" / "parsers"
ERRORS = REALDATA / "prometheus_textparse" / "parser_error_cases.yaml"
PAGES = ROOT / "fixtures" / "pages"
LINE_ERROR = re.compile(r"line \d+")
MUTATIONS = 200
ALPHABET = b' \t\n{}",=#\\\x00\xff_:.+-0123456789eEaInNfF'


def _head(name: str, lines: int) -> bytes:
    return b"".join((PAGES / name).read_bytes().splitlines(keepends=True)[:lines])


SEEDS = [
    (_head("ksm.prom", 40), "text"),
    (_head("histograms.prom", 40), "text"),
    ((PAGES / "edge.prom").read_bytes(), "text"),
    ((PAGES / "openmetrics.om").read_bytes(), "openmetrics"),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randrange(max(1, len(buf)))
        chunk = bytes(rng.choice(ALPHABET) for _ in range(rng.randint(1, 4)))
        op = rng.randrange(4)
        if op == 0:
            buf[pos:pos] = chunk
        elif op == 1:
            del buf[pos : pos + len(chunk)]
        elif op == 2:
            buf[pos : pos + len(chunk)] = chunk
        else:  # duplicate a line (duplicate series, repeated metadata)
            lines = bytes(buf).splitlines(keepends=True)
            if lines:
                i = rng.randrange(len(lines))
                lines.insert(i, lines[i])
                buf = bytearray(b"".join(lines))
    return bytes(buf)


def cases() -> list[tuple[str, bytes, str]]:
    """(name, body, format) of every hostile page."""
    out: list[tuple[str, bytes, str]] = []
    if SUITE.is_dir():
        for d in sorted(SUITE.iterdir()):
            meta = json.loads((d / "test.json").read_text())
            out.append((f"om-{d.name}", (d / meta["file"]).read_bytes(), "openmetrics"))
    if ERRORS.is_file():
        doc = yaml.safe_load(ERRORS.read_text())
        for group in doc["groups"]:
            fmt = "openmetrics" if group["format"].startswith("openmetrics") else "text"
            for i, c in enumerate(group["cases"]):
                inp = c["input"]
                data = base64.b64decode(inp["base64"]) if "base64" in inp else inp["text"].encode()
                out.append((f"prom-{group['test']}-{i}", data, fmt))
    rng = random.Random(20261122)
    for i in range(MUTATIONS):
        seed, fmt = SEEDS[i % len(SEEDS)]
        out.append((f"fuzz-{i}", mutate(rng, seed), fmt))
    return out


def parser_verdict(body: bytes, fmt: str) -> str | None:
    """The parser's error for ``body`` (None: it parses)."""
    try:
        Parser().parse(body, fmt)
    except ParseError as e:
        return str(e)
    return None


def test_hostile_pages_scraped_by_the_agent(start_agent: Callable[..., AgentProcess]) -> None:
    all_cases = cases()
    with TargetServer() as srv, OTLPReceiver(decode=False) as rx:
        entries = []
        for i, (_name, body, fmt) in enumerate(all_cases):
            ctype = OPENMETRICS_CONTENT_TYPE if fmt == "openmetrics" else TEXT_CONTENT_TYPE
            srv.set(f"/c{i}", Page(body, content_type=ctype, gzip=False))
            entries.append(
                f"      - targets: ['{srv.address}']\n"
                f"        labels: {{__metrics_path__: /c{i}, case: '{i}'}}"
            )
        targets_yaml = "\n".join(entries)
        agent = start_agent(f"""
global:
  scrape_interval: 6s
  scrape_timeout: 6s
scrape_configs:
  - job_name: hostile
    static_configs:
{targets_yaml}
scrape_agent:
  otlp: {{endpoint: {rx.http_endpoint}}}
""")
        agent.wait_ready()
        t0 = time.monotonic()

        def all_scraped() -> bool:
            # every target judged on its content: a scrape that failed at the HTTP level
            # (`Get "...": ...`) because this 2-core machine is busy is retried
            ts = agent.targets()
            return len(ts) == len(all_cases) and all(
                t["health"] != "unknown" and not t["lastError"].startswith('Get "') for t in ts
            )

        assert wait_until(all_scraped, 60, step=1.0), agent.log()[-3000:]
        took = time.monotonic() - t0
        statuses = {int(t["labels"]["case"]): t for t in agent.targets()}
        rss = agent.peak_rss_mb()
        log = agent.log()
        assert agent.proc.poll() is None
    rejected = accepted = other_down = 0
    problems = []
    for i, (name, body, fmt) in enumerate(all_cases):
        t = statuses[i]
        want = parser_verdict(body, fmt)
        if want is not None:
            rejected += 1
            if t["health"] != "down" or not LINE_ERROR.search(t["lastError"]):
                problems.append((name, want, t["health"], t["lastError"]))
        elif t["health"] == "up":
            accepted += 1
        else:
            other_down += 1
            if not t["lastError"]:
                problems.append((name, None, t["health"], t["lastError"]))
    suite = sum(1 for n, _, _ in all_cases if n.startswith("om-"))
    prom = sum(1 for n, _, _ in all_cases if n.startswith("prom-"))
    print(
        f"\n{len(all_cases)} hostile pages ({suite} OpenMetrics suite, {prom} Prometheus error "
        f"cases, {MUTATIONS} mutations) scraped by one agent in {took:.1f}s: {rejected} rejected with a "
        f"line-numbered lastError, {accepted} accepted (up=1), {other_down} failed after "
        f"parsing (limits/relabel/duplicates); peak RSS {rss:.0f} MB; problems: {len(problems)}"
    )
    assert not problems, problems[:10]
    assert rejected >= 100
    assert "Traceback" not in log and "failed unexpectedly" not in log


# Pages Prometheus accepts (lenient OpenMetrics) whose odd values used to make the translator
# drop the whole scrape - `up` included - instead of the one odd point (regressions; fixed in
# agent/translate).
ODD_PAGES = {
    "control": b"# TYPE a gauge\na 0 1\n# TYPE b gauge\nb 1\n# EOF\n",
    "negative_timestamp": b"# TYPE a gauge\na 0 -1\n# TYPE b gauge\nb 1\n# EOF\n",
    "huge_timestamp": b"# TYPE a gauge\na 0 12345678901234567890.5\n# TYPE b gauge\nb 1\n# EOF\n",
    "summary_count_nan": b"# TYPE a summary\na_count NaN\n# TYPE b gauge\nb 1\n# EOF\n",
}


@pytest.fixture(scope="module")
def odd_agent(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with TargetServer() as srv, OTLPReceiver() as rx:
        entries = []
        for name, body in ODD_PAGES.items():
            srv.set(f"/{name}", Page(body, content_type=OPENMETRICS_CONTENT_TYPE, gzip=False))
            entries.append(
                f"      - targets: ['{srv.address}']\n"
                f"        labels: {{__metrics_path__: /{name}, case: {name}}}"
            )
        targets_yaml = "\n".join(entries)
        cfg = tmp_path_factory.mktemp("odd") / "scrape.yml"
        cfg.write_text(f"""
global: {{scrape_interval: 1s, scrape_timeout: 800ms}}
scrape_configs:
  - job_name: odd
    static_configs:
{targets_yaml}
scrape_agent:
  otlp: {{endpoint: {rx.http_endpoint}}}
""")
        agent = AgentProcess(cfg)
        try:
            agent.wait_ready()
            wait_until(lambda: len(_delivered(rx, "control")) > 1, 10)
            time.sleep(1.0)
            yield agent, rx
        finally:
            agent.stop()


def _delivered(rx: Any, case: str) -> set[str]:
    return {p.metric for p in rx.points() if p.attributes.get("case") == case}


@pytest.mark.parametrize("case", list(ODD_PAGES))
def test_odd_values_do_not_drop_the_whole_scrape(odd_agent: Any, case: str) -> None:
    agent, rx = odd_agent
    got = _delivered(rx, case)
    print(f"\n{case}: delivered metrics {sorted(got)}")
    assert {"up", "b"} <= got


# --------------------------------------------------------------------------------- hypothesis


@st.composite
def hostile_page(draw: st.DrawFn) -> tuple[bytes, str]:
    seed, fmt = draw(st.sampled_from(SEEDS))
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        chunk = bytes(draw(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=6)))
        op = draw(st.integers(0, 2))
        if op == 0:
            data[pos:pos] = chunk
        elif op == 1:
            del data[pos : pos + len(chunk)]
        else:
            data[pos : pos + len(chunk)] = chunk
    return bytes(data), draw(st.sampled_from([fmt, "text", "openmetrics"]))


class _Harness:
    def __init__(self) -> None:
        self.srv = TargetServer().start()
        self.cfg = cfg = ScrapeConfig(job_name="fuzz", scrape_interval=60.0, scrape_timeout=2.0)
        group = TargetGroup("0", ({"__address__": self.srv.address},))
        target = build_targets(group, cfg)[0].target
        assert target is not None
        self.batches: list[ScrapeBatch] = []
        self.loop = ScrapeLoop(target, cfg, ScrapeClient(cfg), self.batches.append, JobStats())
        self.tried = 0
        self.failed = 0
        self.slowest = 0.0


def test_hypothesis_pages_through_the_scrape_loop() -> None:
    h = _Harness()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(
        max_examples=200,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(hostile_page())
    def run(page: tuple[bytes, str]) -> None:
        body, fmt = page
        ctype = OPENMETRICS_CONTENT_TYPE if fmt == "openmetrics" else TEXT_CONTENT_TYPE
        h.srv.set("/metrics", Page(body, content_type=ctype, gzip=False))
        h.loop.client = ScrapeClient(h.cfg)  # a fresh client per asyncio.run
        t0 = time.perf_counter()
        batch = asyncio.run(_scrape(h.loop))
        took = time.perf_counter() - t0
        h.tried += 1
        h.slowest = max(h.slowest, took)
        up = {dict(s.labels)["__name__"]: s.value for s in batch.report}["up"]
        want = parser_verdict(body, fmt)
        if want is not None:
            assert up == 0.0 and h.loop.last_error == want
        if up == 0.0:
            h.failed += 1
            assert h.loop.last_error and h.loop.health == "down"
        else:
            assert h.loop.health == "up" and not h.loop.last_error
        assert took < 2.0

    try:
        run()
    finally:
        h.srv.stop()
    grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    print(
        f"\nhypothesis: {h.tried} generated pages through ScrapeLoop over HTTP; {h.failed} "
        f"failed scrapes (up=0), slowest {h.slowest * 1000:.0f} ms, max RSS grew {grew_mb:.0f} MB"
    )
    assert h.tried >= 200
    assert grew_mb < 200


async def _scrape(loop: ScrapeLoop) -> Any:
    try:
        return await loop.scrape_once()
    finally:
        await loop.client.aclose()
