"""ScrapeManager: reconcile by target key, removal staleness, reloads, target_limit, status."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from agent.config import Config, GlobalConfig
from agent.devtools.target_server import TargetServer
from agent.model import ScrapeBatch, TargetGroup, is_stale_nan
from agent.scrape.manager import ScrapeManager

PAGE = b"a 1\nb 2\n"


def group(*addresses: str, source: str = "0", **labels: str) -> TargetGroup:
    return TargetGroup(source, tuple({"__address__": a} for a in addresses), labels)


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())


def up_values(batches: list[ScrapeBatch], instance: str) -> list[float]:
    return [
        s.value
        for b in batches
        if b.target.instance == instance
        for s in b.report
        if dict(s.labels)["__name__"] == "up"
    ]


def test_loops_scrape_on_schedule_and_stay_across_syncs(scrape_config: Any) -> None:
    batches: list[ScrapeBatch] = []
    with TargetServer() as s1, TargetServer() as s2:
        s1.set("/metrics", PAGE)
        s2.set("/metrics", PAGE)

        async def go() -> None:
            mgr = ScrapeManager(batches.append)
            cfg = scrape_config({"job_name": "j", "scrape_interval": 0.2, "scrape_timeout": 0.2})
            mgr.apply_config([cfg])
            mgr.sync("j", [group(s1.address)])
            await until(lambda: len(batches) >= 2)
            (loop1,) = mgr.loops("j")
            # Same groups again (a discovery refresh): the loop is kept, not restarted.
            mgr.sync("j", [group(s1.address)])
            assert mgr.loops("j") == [loop1]
            mgr.sync("j", [group(s1.address), group(s2.address, source="1")])
            assert len(mgr.loops("j")) == 2 and loop1 in mgr.loops("j")
            await until(lambda: len(up_values(batches, s2.address)) >= 1)
            await mgr.stop()

        run(go)
    # Scrapes of one target are spaced by the interval (stable phase), never overlapping.
    ts = [b.timestamp_ms for b in batches if b.target.instance == s1.address]
    gaps = [b - a for a, b in zip(ts, ts[1:], strict=False)]
    # (Lower bound only, plus one on-time gap: a loaded machine may skip ticks, never add any.)
    assert gaps and min(gaps) >= 150 and any(g <= 300 for g in gaps), gaps


def test_removed_target_gets_end_of_run_stale_markers(scrape_config: Any) -> None:
    batches: list[ScrapeBatch] = []
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)

        async def go() -> None:
            mgr = ScrapeManager(batches.append)
            mgr.apply_config(
                [scrape_config({"job_name": "j", "scrape_interval": 0.2, "scrape_timeout": 0.2})]
            )
            mgr.sync("j", [group(srv.address)])
            await until(lambda: len(batches) >= 1)
            n_before = len(srv.requests)
            mgr.sync("j", [])
            assert mgr.loops("j") == []
            await mgr.wait_retired()
            assert len(srv.requests) <= n_before + 1  # the loop stopped scraping
            await mgr.stop()

        run(go)
    last = batches[-1]
    assert sorted(dict(s.labels)["__name__"] for s in last.samples) == ["a", "b"]
    assert all(is_stale_nan(s.value) for s in last.samples + last.report)
    assert {dict(s.labels)["__name__"] for s in last.report} >= {"up", "scrape_duration_seconds"}
    # Markers come 2 intervals + 10% after the stop, stamped at the next tick.
    assert last.timestamp_ms > batches[-2].timestamp_ms


def test_shutdown_sends_no_stale_markers(scrape_config: Any) -> None:
    batches: list[ScrapeBatch] = []
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)

        async def go() -> None:
            mgr = ScrapeManager(batches.append)
            mgr.apply_config(
                [scrape_config({"job_name": "j", "scrape_interval": 0.2, "scrape_timeout": 0.2})]
            )
            mgr.sync("j", [group(srv.address)])
            await until(lambda: len(batches) >= 1)
            mgr.sync("j", [])  # removal pending ...
            await mgr.stop()  # ... then shutdown: markers are skipped

        run(go)
    assert not any(is_stale_nan(s.value) for b in batches for s in b.samples)


def test_config_reload_keeps_unchanged_jobs_and_carries_state(scrape_config: Any) -> None:
    batches: list[ScrapeBatch] = []
    with TargetServer() as srv:
        srv.set("/metrics", PAGE)

        async def go() -> None:
            mgr = ScrapeManager(batches.append)
            a = scrape_config({"job_name": "a", "scrape_interval": 3600, "scrape_timeout": 10})
            b = scrape_config({"job_name": "b", "scrape_interval": 3600, "scrape_timeout": 10})
            mgr.apply_config([a, b])
            mgr.sync("a", [group(srv.address)])
            mgr.sync("b", [group(srv.address)])
            (la,) = mgr.loops("a")
            (lb,) = mgr.loops("b")
            await lb.scrape_once()
            b2 = scrape_config(
                {
                    "job_name": "b",
                    "scrape_interval": 3600,
                    "scrape_timeout": 10,
                    "metric_relabel_configs": [
                        {"source_labels": ["__name__"], "regex": "a", "action": "drop"}
                    ],
                }
            )
            mgr.apply_config([a, b2])
            assert mgr.loops("a") == [la]
            (lb2,) = mgr.loops("b")
            assert lb2 is not lb and lb2.cfg is b2
            batch = await lb2.scrape_once()
            # The new loop inherited the old series: "a" (now dropped) gets a stale marker.
            stale = [dict(s.labels)["__name__"] for s in batch.samples if is_stale_nan(s.value)]
            assert stale == ["a"]
            mgr.apply_config([a])
            assert "b" not in mgr.pools
            await mgr.stop()

        run(go)


def test_target_limit_fails_every_target_of_the_job(scrape_config: Any) -> None:
    with TargetServer() as s1, TargetServer() as s2, TargetServer() as s3:
        for s in (s1, s2, s3):
            s.set("/metrics", PAGE)

        async def go() -> None:
            mgr = ScrapeManager(lambda b: None)
            mgr.apply_config(
                [scrape_config({"job_name": "j", "scrape_interval": 3600, "target_limit": 2})]
            )
            mgr.sync("j", [group(s1.address, s2.address, s3.address)])
            for lp in mgr.loops("j"):
                batch = await lp.scrape_once()
                assert [s.value for s in batch.report if dict(s.labels)["__name__"] == "up"] == [
                    0.0
                ]
            assert {st.last_error for st in mgr.target_statuses()} == {
                "target_limit exceeded (number of targets: 3, limit: 2)"
            }
            assert len(s1.requests) == 0  # not even fetched
            mgr.sync("j", [group(s1.address, s2.address)])
            for lp in mgr.loops("j"):
                await lp.scrape_once()
            assert {st.health for st in mgr.target_statuses()} == {"up"}
            await mgr.stop()

        run(go)


def test_statuses_dropped_targets_and_errors(scrape_config: Any) -> None:
    async def go() -> None:
        mgr = ScrapeManager(lambda b: None)
        cfg = scrape_config(
            {
                "job_name": "j",
                "scrape_interval": 3600,
                "keep_dropped_targets": 2,
                "relabel_configs": [{"source_labels": ["keep"], "regex": "yes", "action": "keep"}],
            }
        )
        mgr.apply_config([cfg])
        targets = [{"__address__": f"h{i}:1", "keep": "yes" if i == 0 else "no"} for i in range(4)]
        targets.append({"keep": "yes"})  # no address -> error, not dropped
        mgr.sync("j", [TargetGroup("0", tuple(targets))])
        (st,) = mgr.target_statuses()
        assert (st.scrape_pool, st.scrape_url, st.health) == ("j", "http://h0:1/metrics", "unknown")
        assert st.labels == {"instance": "h0:1", "job": "j", "keep": "yes"}
        assert st.discovered_labels["__scrape_interval__"] == "1h"
        assert (st.scrape_interval, st.scrape_timeout) == (3600, 10)
        dropped = mgr.dropped_targets()
        assert [d.discovered_labels["__address__"] for d in dropped] == ["h1:1", "h2:1"]
        assert mgr.dropped_target_counts() == {"j": 3}
        assert mgr.target_errors() == {"j": ["instance 4 in group 0: no address"]}
        await mgr.stop()

    run(go)


def test_external_labels_overwrite_as_the_receiver(scrape_config: Any) -> None:
    batches: list[ScrapeBatch] = []
    with TargetServer() as srv:
        srv.set("/metrics", b'a{cluster="scraped"} 1\n')

        async def go() -> None:
            mgr = ScrapeManager(batches.append)
            job = scrape_config({"job_name": "j", "scrape_interval": 3600})
            mgr.apply_config(Config(GlobalConfig(external_labels={"cluster": "prod"}), (job,)))
            mgr.sync("j", [group(srv.address)])
            (lp,) = mgr.loops("j")
            await lp.scrape_once()
            await mgr.stop()

        run(go)
    (b,) = batches
    assert dict(b.samples[0].labels)["cluster"] == "prod"
    assert all(dict(s.labels)["cluster"] == "prod" for s in b.report)


def test_kept_loop_sees_new_discovered_labels(scrape_config: Any) -> None:
    async def go() -> None:
        mgr = ScrapeManager(lambda b: None)
        mgr.apply_config([scrape_config({"job_name": "j", "scrape_interval": 3600})])
        mgr.sync("j", [TargetGroup("0", ({"__address__": "h:1", "__meta_pod_label": "v1"},))])
        (lp,) = mgr.loops("j")
        mgr.sync("j", [TargetGroup("0", ({"__address__": "h:1", "__meta_pod_label": "v2"},))])
        assert mgr.loops("j") == [lp]  # same key: the loop (and its state) stays
        assert lp.info.discovered_labels["__meta_pod_label"] == "v2"
        assert mgr.target_statuses()[0].discovered_labels["__meta_pod_label"] == "v2"
        await mgr.stop()

    run(go)


def test_removed_targets_release_their_connections(scrape_config: Any) -> None:
    with TargetServer() as s1, TargetServer() as s2:
        s1.set("/metrics", PAGE)
        s2.set("/metrics", PAGE)

        async def go() -> None:
            mgr = ScrapeManager(lambda b: None)
            mgr.apply_config([scrape_config({"job_name": "j", "scrape_interval": 3600})])
            mgr.sync("j", [group(s1.address, s2.address)])
            for lp in mgr.loops("j"):
                await lp.scrape_once()
            pools = mgr.pools["j"].client._per_origin
            assert pools is not None and len(pools._pools) == 2
            mgr.sync("j", [group(s2.address)])
            # Released when the loop stops (its stale markers come much later).
            await until(lambda: len(pools._pools) == 1)
            assert [k[2] for k in pools._pools] == [s2.port]
            await mgr.stop()

        run(go)


def test_slow_target_never_delays_another_nor_overlaps_itself(scrape_config: Any) -> None:
    from agent.devtools.target_server import Page

    batches: list[ScrapeBatch] = []
    with TargetServer() as slow, TargetServer() as fast:
        slow.set("/metrics", Page(PAGE, delay=2))
        fast.set("/metrics", PAGE)

        async def go() -> None:
            mgr = ScrapeManager(batches.append)
            mgr.apply_config(
                [
                    scrape_config(
                        {"job_name": "slow", "scrape_interval": 0.3, "scrape_timeout": 0.3}
                    ),
                    scrape_config(
                        {"job_name": "fast", "scrape_interval": 0.1, "scrape_timeout": 0.1}
                    ),
                ]
            )
            mgr.sync("slow", [group(slow.address)])
            mgr.sync("fast", [group(fast.address)])
            await until(lambda: len(up_values(batches, slow.address)) >= 3, timeout=10)
            await mgr.stop()

        run(go)
    assert set(up_values(batches, slow.address)) == {0.0}
    # One scrape at a time: each slow scrape ended (timed out) before the next one started.
    slow_batches = [b for b in batches if b.target.instance == slow.address]
    for a, b in zip(slow_batches, slow_batches[1:], strict=False):
        dur = next(
            s.value for s in a.report if dict(s.labels)["__name__"] == "scrape_duration_seconds"
        )
        assert 0.25 <= dur < 1.0
        assert a.timestamp_ms + dur * 1000 <= b.timestamp_ms + 1
    fast_ups = up_values(batches, fast.address)
    assert len(fast_ups) >= 5 and set(fast_ups) == {1.0}
