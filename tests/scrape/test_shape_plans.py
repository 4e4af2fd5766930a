"""The series processor's shape plans (``SeriesProcessor._make_plan``): series of one shape
(metric name + scraped label names) whose final labels do not depend on their values are
built from a plan worked out once. Whatever the rules, target labels, honor_labels and
external labels, the result must be what the general steps give for each series: target
labels merged as ``mutateSampleLabels``, ``relabel.process``, external labels, sorted."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import relabel
from agent.model import TargetGroup
from agent.scrape.parse import Parser
from agent.scrape.samples import SeriesProcessor, mutate_sample_labels
from agent.scrape.targets import build_targets

from .conftest import build_scrape_config

NAMES = ["a", "b", "job", "instance", "exported_a", "env", "pod"]
VALUES = ["", "x", "y", "Foo", "1", "tgt", "prod"]
METRICS = ["m", "n", "kube_x", "kube_x_total"]
RULES: list[dict[str, Any]] = [
    {"source_labels": ["__name__"], "regex": "kube_.*", "action": "drop"},
    {"source_labels": ["__name__"], "regex": "m|n|kube_x", "action": "keep"},
    {"target_label": "cluster", "replacement": "c1"},
    {"source_labels": ["a"], "target_label": "a_copy"},
    {"source_labels": ["b"], "regex": "x", "action": "drop"},
    {"regex": "exported_(.*)", "action": "labelmap", "replacement": "re_$1"},
    {"regex": "(.*)", "action": "labelmap", "replacement": "all_$1"},
    {"regex": "b", "action": "labeldrop"},
    {"regex": "__name__|job|instance|a|cluster|re_.*|pod", "action": "labelkeep"},
    {"source_labels": ["job"], "target_label": "job_copy"},
    {"source_labels": ["env", "job"], "separator": "-", "target_label": "ej"},
    {"source_labels": ["a"], "target_label": "h", "modulus": 3, "action": "hashmod"},
    {"source_labels": ["env"], "target_label": "env_low", "action": "lowercase"},
    {"source_labels": ["a"], "target_label": "b", "action": "keepequal"},
    {"source_labels": ["env"], "target_label": "env", "action": "dropequal"},
    {
        "source_labels": ["__name__"],
        "regex": "(.*)",
        "target_label": "__name__",
        "replacement": "p_$1",
    },
    {"source_labels": ["__name__"], "regex": "n", "target_label": "__name__", "replacement": ""},
    {"source_labels": ["instance"], "regex": "h:(.*)", "target_label": "port", "replacement": "$1"},
    {"target_label": "pod", "replacement": ""},
    {"regex": "(.*)", "action": "labeldrop"},
]


def _line(metric: str, pairs: list[tuple[str, str]], v: int) -> str:
    if not pairs:
        return f"{metric} {v}"
    return metric + "{" + ",".join(f'{k}="{val}"' for k, val in pairs) + "}" + f" {v}"


series_st = st.tuples(
    st.sampled_from(METRICS),
    st.lists(
        st.tuples(st.sampled_from(NAMES), st.sampled_from(VALUES)),
        max_size=5,
        unique_by=lambda kv: kv[0],
    ),
)


def expected(parser: Parser, texts: list[str], proc: SeriesProcessor) -> list[Any] | str:
    out: list[Any] = []
    seen: set[Any] = set()
    for text in texts:
        name, pairs = parser.series_labels(text)
        lb = mutate_sample_labels(name, pairs, proc.target.labels, proc.cfg.honor_labels)
        got = relabel.process(lb, proc.cfg.metric_relabel_configs)
        if not got:
            continue
        if "__name__" not in got:
            return "error"
        got.update(proc.external)
        labels = tuple(sorted(got.items()))
        if labels not in seen:
            seen.add(labels)
            out.append(labels)
    return out


@settings(max_examples=400, deadline=None)
@given(
    lines=st.lists(series_st, min_size=1, max_size=25),
    rules=st.lists(st.sampled_from(RULES), max_size=4),
    honor=st.booleans(),
    external=st.sampled_from([{}, {"cluster": "ext", "a": "ext_a"}]),
    group=st.sampled_from([{}, {"a": "tgt", "env": "Prod"}, {"exported_a": "t2", "pod": "p"}]),
)
def test_plans_give_what_the_general_steps_give(
    lines: list[Any], rules: list[dict[str, Any]], honor: bool, external: Any, group: Any
) -> None:
    cfg = build_scrape_config(
        {"job_name": "j", "honor_labels": honor, "metric_relabel_configs": rules}
    )
    t = build_targets(TargetGroup("0", ({"__address__": "h:1"},), group), cfg)[0].target
    assert t is not None
    page = "\n".join(_line(m, pairs, i) for i, (m, pairs) in enumerate(lines)) + "\n"
    for _ in range(2):  # a new processor: plans made, then reused by the second scrape
        proc, parser = SeriesProcessor(t, cfg, external), Parser()
        for ts in (1000, 2000):
            result = parser.parse(page.encode(), "text")
            want = expected(parser, list(result.series), proc)
            o = proc.process(parser, result, ts)
            parser.sweep()
            if want == "error":
                assert o.error is not None
            else:
                assert o.error is None
                assert [s.labels for s in o.series] == want


def test_a_rule_reading_a_scraped_value_decides_per_series() -> None:
    cfg = build_scrape_config(
        {
            "job_name": "j",
            "metric_relabel_configs": [{"source_labels": ["a"], "regex": "x", "action": "drop"}],
        }
    )
    t = build_targets(TargetGroup("0", ({"__address__": "h:1"},)), cfg)[0].target
    assert t is not None
    proc, parser = SeriesProcessor(t, cfg), Parser()
    o = proc.process(parser, parser.parse(b'm{a="x"} 1\nm{a="y"} 2\n', "text"), 1000)
    assert [dict(s.labels)["a"] for s in o.series] == ["y"] and o.dropped_by_relabel == 1


def test_one_plan_serves_every_series_of_a_shape() -> None:
    cfg = build_scrape_config(
        {
            "job_name": "j",
            "metric_relabel_configs": [
                {"source_labels": ["__name__"], "regex": "drop_.*", "action": "drop"},
                {"target_label": "cluster", "replacement": "c"},
            ],
        }
    )
    t = build_targets(TargetGroup("0", ({"__address__": "h:1"},)), cfg)[0].target
    assert t is not None
    proc, parser = SeriesProcessor(t, cfg, {"region": "r"}), Parser()
    page = "".join(
        f'm{{pod="p{i}",ns="n{i % 3}"}} {i}\ndrop_m{{pod="p{i}"}} 1\n' for i in range(50)
    )
    o = proc.process(parser, parser.parse(page.encode(), "text"), 1000)
    assert len(o.series) == 50 and o.dropped_by_relabel == 50
    assert o.series[7].labels == (
        ("__name__", "m"),
        ("cluster", "c"),
        ("instance", "h:1"),
        ("job", "j"),
        ("ns", "n1"),
        ("pod", "p7"),
        ("region", "r"),
    )
    assert len(proc._plans) == 2  # one per shape
    # pairs are shared between series of the target
    assert o.series[1].labels[1] is o.series[2].labels[1]


def test_keepequal_reads_its_target_label_value() -> None:
    # source `a` is a target label (a constant), target `b` a scraped value: per series
    for action, kept in (("keepequal", ["tgt"]), ("dropequal", ["x"])):
        cfg = build_scrape_config(
            {
                "job_name": "j",
                "metric_relabel_configs": [
                    {"source_labels": ["a"], "target_label": "b", "action": action}
                ],
            }
        )
        group = TargetGroup("0", ({"__address__": "h:1"},), {"a": "tgt"})
        t = build_targets(group, cfg)[0].target
        assert t is not None
        proc, parser = SeriesProcessor(t, cfg), Parser()
        o = proc.process(parser, parser.parse(b'm{b="tgt"} 1\nm{b="x"} 2\n', "text"), 1000)
        assert [dict(s.labels)["b"] for s in o.series] == kept
