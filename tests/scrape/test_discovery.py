"""Static and file discovery, and the discovery manager (merge, debounce, reload)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import FileSDConfig, StaticConfig
from agent.devtools.target_server import TargetServer
from agent.discovery.file import FileDiscoverer, FileSDError, parse_file
from agent.discovery.manager import DiscoveryManager
from agent.discovery.static import static_groups
from agent.model import ScrapeBatch, TargetGroup
from agent.scrape.manager import ScrapeManager


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.01)


def write(path: Path, content: str) -> None:
    """Write and bump the mtime so the change is visible even within one clock tick."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(content)
    st = path.stat()
    if st.st_mtime_ns <= old:
        os.utime(path, ns=(st.st_atime_ns, old + 1_000_000))


def test_static_groups() -> None:
    groups = static_groups([StaticConfig(("a:1", "b:2"), {"env": "x"}), StaticConfig(("c:3",))])
    assert [g.source for g in groups] == ["0", "1"]
    assert groups[0].targets == ({"__address__": "a:1"}, {"__address__": "b:2"})
    assert groups[0].labels == {"env": "x"}


def test_parse_file_formats_and_errors(tmp_path: Path) -> None:
    p = str(tmp_path / "t.json")
    groups = parse_file(p, b'[{"targets": ["a:1"], "labels": {"env": "prod"}}, {"targets": []}]')
    assert [g.source for g in groups] == [f"{p}:0", f"{p}:1"]
    assert groups[0].labels == {"env": "prod", "__meta_filepath": p}
    y = str(tmp_path / "t.yml")
    assert parse_file(y, b"- targets: ['b:2']\n")[0].targets == ({"__address__": "b:2"},)
    for bad, msg in [
        (b"{", "t.json"),
        (b'{"targets": []}', "expected a list"),
        (b'[{"targets": "a:1"}]', "group 0: 'targets' must be a list"),
        (b'[{"targets": ["a"], "labels": {"x": 1}}]', "label 'x' must be a string"),
        (b'[{"targets": ["a"], "lables": {}}]', "unknown field(s) lables"),
    ]:
        with pytest.raises(FileSDError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            parse_file(p, bad)


def test_file_discoverer_picks_up_changes_and_keeps_last_good(tmp_path: Path) -> None:
    sd = tmp_path / "sd"
    sd.mkdir()
    a = sd / "a.json"
    b = sd / "b.yaml"
    write(a, json.dumps([{"targets": ["h1:1"]}, {"targets": ["h2:1"], "labels": {"x": "y"}}]))
    write(b, "- targets: ['h3:1']\n")
    (sd / "ignored.txt").write_text("not a target file")
    sends: list[list[TargetGroup]] = []

    async def go() -> None:
        d = FileDiscoverer(
            FileSDConfig(files=("sd/*",), base_dir=str(tmp_path)), poll_interval=0.02
        )
        task = asyncio.create_task(d.run(sends.append))
        await until(lambda: len(sends) == 1)
        first = {g.source: g for g in sends[0]}
        assert sorted(first) == [f"{a}:0", f"{a}:1", f"{b}:0"]
        assert first[f"{a}:1"].labels == {"x": "y", "__meta_filepath": str(a)}
        # A change: a.json now has one group -> group 1 is sent empty (source gone).
        write(a, json.dumps([{"targets": ["h1:1", "h9:1"]}]))
        await until(lambda: len(sends) == 2)
        second = {g.source: g for g in sends[1]}
        assert len(second[f"{a}:0"].targets) == 2 and second[f"{a}:1"].targets == ()
        # An invalid file keeps its last good groups (no empty groups for it).
        write(a, "[{")
        await until(lambda: len(sends) == 3)
        assert all(g.targets for g in sends[2])
        assert {g.source for g in sends[2]} == {f"{b}:0"}
        # A deleted file: its sources are sent empty.
        b.unlink()
        await until(lambda: len(sends) == 4)
        assert {g.source: g.targets for g in sends[3]}[f"{b}:0"] == ()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(go())


def test_discovery_manager_merges_debounces_and_reloads(tmp_path: Path, scrape_config: Any) -> None:
    f = tmp_path / "t.json"
    write(f, json.dumps([{"targets": ["f1:1"]}]))
    published: list[dict[str, list[TargetGroup]]] = []
    times: list[float] = []

    def on_update(update: dict[str, list[TargetGroup]]) -> None:
        times.append(asyncio.get_running_loop().time())
        published.append(update)

    job_static = scrape_config({"job_name": "s", "static_configs": (StaticConfig(("a:1",)),)})
    job_file = scrape_config(
        {
            "job_name": "f",
            "file_sd_configs": (FileSDConfig(files=(str(f),), refresh_interval=0.05),),
        }
    )
    job_empty = scrape_config({"job_name": "e"})

    async def go() -> None:
        dm = DiscoveryManager(on_update, debounce=0.3)
        t0 = asyncio.get_running_loop().time()
        dm.apply_config([job_static, job_file, job_empty])
        await until(lambda: dm.synced and len(published) >= 1)
        await until(lambda: any(p.get("f") for p in published))
        assert times[0] - t0 < 0.2  # the first set is published at once
        last = published[-1]
        assert set(last) == {"s", "f", "e"} and last["e"] == []
        assert last["s"][0].targets == ({"__address__": "a:1"},)
        providers = dict(dm.providers)
        # Reload with the static job unchanged and the file job removed.
        n = len(published)
        dm.apply_config([job_static, job_empty])
        assert dm.providers[("s", "static/0")] is providers[("s", "static/0")]
        await until(lambda: len(published) > n)
        assert set(published[-1]) == {"s", "e"}
        # Debounce: the file changes every 0.05 s, yet publishes are >= 0.3 s apart.
        dm.apply_config([job_static, job_file, job_empty])
        for i in range(20):
            write(f, json.dumps([{"targets": [f"f{i}:1"]}]))
            await asyncio.sleep(0.05)
        await dm.stop()
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert len(gaps) >= 2 and min(gaps) >= 0.29, gaps

    asyncio.run(go())


def test_file_sd_change_reaches_the_scrape_loops(tmp_path: Path, scrape_config: Any) -> None:
    batches: list[ScrapeBatch] = []
    f = tmp_path / "targets.yml"
    with TargetServer() as s1, TargetServer() as s2:
        s1.set("/metrics", b"a 1\n")
        s2.set("/metrics", b"a 2\n")
        write(f, f"- targets: ['{s1.address}']\n")
        job = scrape_config(
            {
                "job_name": "f",
                "scrape_interval": 0.2,
                "scrape_timeout": 0.2,
                "file_sd_configs": (FileSDConfig(files=(str(f),)),),
            }
        )

        async def go() -> None:
            sm = ScrapeManager(batches.append)
            sm.apply_config([job])

            def on_groups(update: dict[str, list[TargetGroup]]) -> None:
                for j, groups in update.items():
                    sm.sync(j, groups)

            dm = DiscoveryManager(on_groups, debounce=0.05)
            dm.apply_config([job])
            for d in (p.discoverer for p in dm.providers.values()):
                assert isinstance(d, FileDiscoverer)
                d.poll_interval = 0.05
            await until(lambda: any(b.target.instance == s1.address for b in batches))
            write(f, f"- targets: ['{s2.address}']\n  labels: {{team: x}}\n")
            await until(lambda: any(b.target.instance == s2.address for b in batches))
            (st,) = sm.target_statuses()
            assert st.labels["team"] == "x" and st.discovered_labels["__meta_filepath"] == str(f)
            await dm.stop()
            await sm.stop()

        asyncio.run(go())


def test_unchanged_rereads_publish_nothing(tmp_path: Path, scrape_config: Any) -> None:
    f = tmp_path / "t.json"
    write(f, json.dumps([{"targets": ["f1:1"]}]))
    published: list[dict[str, list[TargetGroup]]] = []
    job = scrape_config(
        {
            "job_name": "f",
            "file_sd_configs": (FileSDConfig(files=(str(f),), refresh_interval=0.02),),
        }
    )

    async def go() -> None:
        dm = DiscoveryManager(published.append, debounce=0.01)
        dm.apply_config([job])
        await until(lambda: any(p.get("f") for p in published))
        n = len(published)
        await asyncio.sleep(0.3)  # ~15 re-reads of the same content
        assert len(published) == n
        write(f, json.dumps([{"targets": ["f2:1"]}]))
        await until(lambda: len(published) > n)
        await dm.stop()

    asyncio.run(go())


def test_kubernetes_jobs_run_through_the_manager(tmp_path: Path, scrape_config: Any) -> None:
    """kubernetes_sd_configs is imported lazily and runs like any discoverer (node-local)."""
    from agent.config import KubernetesSDConfig
    from agent.devtools.k8s_apiserver import FakeAPIServer, load_objects
    from agent.scrape.targets import build_targets

    cluster = Path(__file__).parents[2] / "fixtures" / "k8s" / "cluster.yaml"
    if not cluster.exists():
        pytest.skip("fixtures/k8s/cluster.yaml not present")
    published: list[dict[str, list[TargetGroup]]] = []
    with FakeAPIServer() as api:
        api.apply_all(load_objects(cluster))
        job = scrape_config(
            {
                "job_name": "pods",
                "kubernetes_sd_configs": (KubernetesSDConfig(role="pod", api_server=api.url),),
                "relabel_configs": [
                    {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "node"},
                ],
            }
        )

        async def go() -> None:
            dm = DiscoveryManager(published.append, node_name="node-a", debounce=0.05)
            dm.apply_config([job])
            await until(lambda: dm.synced and any(p.get("pods") for p in published), timeout=15)
            await dm.stop()

        asyncio.run(go())
    groups = published[-1]["pods"]
    assert groups and all(g.source.startswith("pod/") for g in groups)
    nodes = {
        r.target.populated_labels["node"]
        for g in groups
        for r in build_targets(g, job)
        if r.target is not None
    }
    assert nodes == {"node-a"}  # node-local: only this node's pods
