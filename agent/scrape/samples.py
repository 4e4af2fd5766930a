"""Per-target sample processing: target labels, honor_labels, metric relabelling, limits,
timestamps and staleness, as Prometheus' ``scrapeLoop.append`` / ``mutateSampleLabels``.

``SeriesProcessor`` belongs to one target's loop (never used by two scrapes at once). It keeps

- a cache from the raw series text of the exposition to its final ``Labels`` (or "dropped"),
  so a series seen last scrape costs one dict lookup;
- the label sets written by the previous successful scrape, to emit stale markers for the
  ones that vanish (or for all of them when a scrape fails or the target goes away).

The cache is keyed by series text, ahead of relabelling, so ``relabel.process`` runs only for
series never seen before (``relabel.Relabeler``'s own cache would hold a second copy of every
label set). Label pairs are interned per target: the series of one target share most pairs.

A new series is resolved through its *shape* (metric name + scraped label names): when no
metric relabelling rule reads a scraped value (rules on ``__name__`` or target labels,
constant additions, labeldrop/labelkeep/labelmap: the usual ``metric_relabel_configs``), what
a series of that shape becomes depends on its names only, so the target-label merge, the rules
and the sort run once per shape (``_make_plan``) and each series only picks its values into
the planned order: the first scrape of a kube-state-metrics page costs less than half as much.
Other shapes take the general steps, series by series.

External labels: Prometheus itself never adds ``global.external_labels`` to scraped series (it
applies them on remote write and federation), but the collector's prometheus receiver, which
scrape-agent replaces, sets them on every series, overwriting a scraped label of the same
name. The agent ships what the receiver would, so ``external_labels`` are applied here, after
metric relabelling and limits, with overwrite (report series included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import getitem, itemgetter
from typing import Any, Protocol

import relabel
from agent.config import ScrapeConfig
from agent.model import STALE_NAN, Exemplar, Labels, MetricMeta, Sample, Series
from agent.scrape.targets import Target

REPORT_NAMES = (
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
)
EXPORTED_PREFIX = "exported_"
SAMPLE_LIMIT_ERROR = "sample limit exceeded"
NAME_MANDATORY_ERROR = "missing metric name (__name__ label)"


class ParseResult(Protocol):
    series: Sequence[str]
    values: Sequence[float]
    stamps: Sequence[int | None] | None
    exemplars: Mapping[int, Exemplar] | None
    metadata: Mapping[str, MetricMeta]


class Parser(Protocol):
    def parse(self, body: Any, content_type: str) -> Any: ...
    def series_labels(self, series_text: str) -> tuple[str, Sequence[tuple[str, str]]]: ...
    def series_flat(self, series_text: str) -> tuple[str, tuple[str, ...]]: ...
    def sweep(self) -> None: ...


class LimitError(Exception):
    pass


class _Failing:
    """A series text whose labels break a limit (or lost ``__name__``): fails every scrape
    that exposes it."""

    __slots__ = ("labels", "error")

    def __init__(self, labels: Labels, error: str) -> None:
        self.labels = labels
        self.error = error


class _Dropped:
    __slots__ = ()


_DROPPED = _Dropped()  # a series text dropped by metric relabelling
_Cached = Series | _Failing | _Dropped
_UNPLANNED: Any = object()
_PLANS_MAX = 8192


class _PairsOf(dict[str, tuple[str, str]]):
    """The interned ``(name, value)`` pairs of one label name, by value."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def __missing__(self, value: str) -> tuple[str, str]:
        pair = self[value] = (self.name, value)
        return pair


class _Plan:
    """The final labels of every series of one shape (metric name + scraped label names)
    whose result does not depend on its values: ``pairs`` the pair tables of its label names
    in sorted order, and ``values(flat + consts)`` their values, picked from the series' flat
    scraped labels ``(n1, v1, ...)`` followed by the shape's constant values (target,
    relabelling and external labels)."""

    __slots__ = ("pairs", "values", "consts")

    def __init__(
        self, pairs: tuple[_PairsOf, ...], index: list[int], consts: tuple[str, ...]
    ) -> None:
        self.pairs = pairs
        self.consts = consts
        if len(index) == 1:
            i = index[0]
            self.values: Callable[[tuple[str, ...]], tuple[str, ...]] = lambda t: (t[i],)
        else:
            self.values = itemgetter(*index)


@dataclass(slots=True)
class Outcome:
    """What one parse result became: columns as ``ScrapeBatch``'s (``series[i]`` had
    ``values[i]`` at ``timestamps[i]``, or at the scrape time when ``timestamps`` is None),
    plus stale markers (``stale``, at the scrape time) and the counts behind the report."""

    series: list[Series] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    timestamps: list[int] | None = None
    exemplars: dict[int, Exemplar] | None = None
    scraped: int = 0  # scrape_samples_scraped
    post_relabel: int = 0  # scrape_samples_post_metric_relabeling
    series_added: int = 0
    dropped_by_relabel: int = 0
    duplicates: int = 0
    error: str | None = None
    stale: list[Series] = field(default_factory=list)


def mutate_sample_labels(
    name: str,
    scraped: Iterable[tuple[str, str]],
    target_labels: Labels,
    honor: bool,
) -> dict[str, str]:
    """Scraped labels plus target labels, as Prometheus' ``mutateSampleLabels`` (no relabel)."""
    lb: dict[str, str] = {k: v for k, v in scraped if v != ""}
    lb["__name__"] = name
    if honor:
        for k, v in target_labels:
            if k not in lb:
                lb[k] = v
        return lb
    conflicts: list[tuple[str, str]] = []
    for k, v in target_labels:
        existing = lb.get(k, "")
        if existing != "":
            conflicts.append((k, existing))
        lb[k] = v
    if conflicts:
        conflicts.sort(key=lambda kv: len(kv[0]))  # stable, as slices.SortStableFunc
        for k, v in conflicts:
            new = k
            while True:
                new = EXPORTED_PREFIX + new
                if lb.get(new, "") == "":
                    lb[new] = v
                    break
    return lb


def check_label_limits(labels: Labels, cfg: ScrapeConfig) -> str | None:
    """Prometheus' ``verifyLabelLimits`` message, or None."""
    met = dict(labels).get("__name__", "")[:50]
    if cfg.label_limit > 0 and len(labels) > cfg.label_limit:
        return (
            f"label_limit exceeded (metric: {met}, number of labels: {len(labels)}, "
            f"limit: {cfg.label_limit})"
        )
    nl, vl = cfg.label_name_length_limit, cfg.label_value_length_limit
    if nl == 0 and vl == 0:
        return None
    for k, v in labels:
        if nl > 0 and len(k.encode()) > nl:
            return (
                f"label_name_length_limit exceeded (metric: {met}, label name: {k[:50]}, "
                f"length: {len(k.encode())}, limit: {nl})"
            )
        if vl > 0 and len(v.encode()) > vl:
            return (
                f"label_value_length_limit exceeded (metric: {met}, label name: {k[:50]}, "
                f'value: "{v[:50]}", length: {len(v.encode())}, limit: {vl})'
            )
    return None


def report_labels(name: str, target_labels: Labels, external: Mapping[str, str]) -> Labels:
    """Report series labels: target labels win (``mutateReportSampleLabels``), never relabelled."""
    d = dict(target_labels)
    d["__name__"] = name
    d.update({k: v for k, v in external.items() if v != ""})
    return tuple(sorted(d.items()))


class SeriesProcessor:
    """Turns one parse result of one target into final samples (see module docstring)."""

    def __init__(
        self,
        target: Target,
        cfg: ScrapeConfig,
        external_labels: Mapping[str, str] | None = None,
    ) -> None:
        self.target = target
        self.cfg = cfg
        self.external = {k: v for k, v in (external_labels or {}).items() if v != ""}
        # series text -> its final Series, or _DROPPED / a _Failing
        self._cache: dict[str, _Cached] = {}
        # final labels -> Series: one object per label set, whatever text spelt it
        self._by_labels: dict[Labels, Series] = {}
        self._iter = 0
        self.prev: list[Series] = []  # series written by the last scrape (for staleness)
        self._last_cache_size = 0
        # label name -> its pairs: one (name, value) tuple per distinct pair of the target
        self._pairs: dict[str, _PairsOf] = {}
        # (metric name, scraped label names) -> what every series of that shape becomes
        # (see _make_plan); None: that shape takes the general path
        self._plans: dict[tuple[str, tuple[str, ...]], _Plan | _Dropped | None] = {}
        self._label_limits = bool(
            cfg.label_limit or cfg.label_name_length_limit or cfg.label_value_length_limit
        )

    def inherit(self, other: SeriesProcessor) -> None:
        """Keep staleness state across a config reload (the cache is rebuilt: rules changed).
        The previous scrape's ``Series`` objects are kept, so a series that is still there
        after the reload is the same object (and not marked stale)."""
        self.prev = other.prev
        self._iter = other._iter
        self._by_labels = {s.labels: s for s in other.prev}

    def _pairs_of(self, name: str) -> _PairsOf:
        d = self._pairs.get(name)
        if d is None:
            d = self._pairs[name] = _PairsOf(name)
        return d

    def _intern(self, items: Iterable[tuple[str, str]]) -> Labels:
        # Series of one target share most label pairs (job, instance, namespace, pod ...):
        # keep one tuple per distinct pair (bounded in process()).
        pairs_of = self._pairs_of
        return tuple([pairs_of(k)[v] for k, v in sorted(items)])

    def _series(self, labels: Labels) -> Series:
        # one hash of the label tuple (tuples do not cache theirs); a second spelling of a
        # label set already seen (rare) gets the first one's object
        return self._by_labels.setdefault(labels, Series(labels))

    def _make_plan(self, name: str, names: tuple[str, ...]) -> _Plan | _Dropped | None:
        """What every series named ``name`` with scraped labels ``names`` (in that order, no
        empty value) becomes, when that does not depend on the values: target labels, honor_labels
        and external labels depend on names only, and so does metric relabelling as long as no
        rule reads a scraped value (rules on ``__name__``, on target labels, constant
        additions, labeldrop/labelkeep/labelmap). Worked out by running the real steps once on
        placeholder values, each placeholder standing for "the value of the i-th scraped label"
        (rules that would read one make the plan None: the general path decides per series).
        Returns ``_DROPPED`` when every such series is dropped."""
        if self._label_limits:
            return None  # limits read value lengths
        marks = [f"\x00{i}\x00" for i in range(len(names))]  # distinct objects, never empty
        where = {id(m): 2 * i + 1 for i, m in enumerate(marks)}  # -> index in the flat tuple
        lb = mutate_sample_labels(
            name, zip(names, marks, strict=True), self.target.labels, self.cfg.honor_labels
        )
        rules = self.cfg.metric_relabel_configs
        if rules:
            added: set[str] = set()
            for rule in rules:
                read = rule.source_labels
                if rule.action in ("keepequal", "dropequal"):
                    read = (*read, rule.target_label)
                if any(id(lb.get(k)) in where for k in read):
                    return None
                if not rule.step(lb, added):
                    return _DROPPED
            if not lb:
                return _DROPPED
            if "__name__" not in lb:
                return None  # fails the scrape: the general path says why
        lb.update(self.external)
        out_names: list[str] = []
        index: list[int] = []
        consts: list[str] = []
        base = 2 * len(names)  # constants follow the flat tuple
        for k, v in sorted(lb.items()):
            out_names.append(k)
            i = where.get(id(v))
            if i is None:
                index.append(base + len(consts))
                consts.append(v)
            else:
                index.append(i)
        return _Plan(tuple(map(self._pairs_of, out_names)), index, tuple(consts))

    def _resolve(self, parser: Parser, text: str) -> _Cached:
        name, flat = parser.series_flat(text)
        if "" in flat:  # an empty value is no label (label names are never empty)
            flat = tuple(x for i in range(0, len(flat), 2) if flat[i + 1] for x in flat[i : i + 2])
        key = (name, flat[0::2])
        plan: _Plan | _Dropped | None = self._plans.get(key, _UNPLANNED)
        if plan is _UNPLANNED:
            if len(self._plans) >= _PLANS_MAX:
                self._plans.clear()
            plan = self._plans[key] = self._make_plan(name, key[1])
        if plan is _DROPPED:
            return _DROPPED
        if plan is not None:
            # the pair of each value, in the planned order: the loop runs in C (and _series
            # inline)
            labels: Labels = tuple(map(getitem, plan.pairs, plan.values(flat + plan.consts)))  # type: ignore[union-attr, arg-type]
            return self._by_labels.setdefault(labels, Series(labels))
        # a rule reads a scraped value, or label limits apply: the general path
        raw = zip(flat[0::2], flat[1::2], strict=True)
        lb = mutate_sample_labels(name, raw, self.target.labels, self.cfg.honor_labels)
        if self.cfg.metric_relabel_configs:
            # lb is this call's own dict: relabelled in place (no copy, no sort; _intern sorts)
            out = relabel.process_in_place(lb, self.cfg.metric_relabel_configs)
            if out is None:
                return _DROPPED
            lb = out
            if not lb:
                return _DROPPED
            if "__name__" not in lb:  # Prometheus fails the scrape (errNameLabelMandatory)
                return _Failing(self._intern(lb.items()), NAME_MANDATORY_ERROR)
        if self._label_limits:
            err = check_label_limits(tuple(sorted(lb.items())), self.cfg)
            if err is not None:
                if self.external:
                    lb.update(self.external)
                return _Failing(self._intern(lb.items()), err)
        if self.external:
            lb.update(self.external)
        return self._series(self._intern(lb.items()))

    def process(self, parser: Parser, result: ParseResult, ts_ms: int) -> Outcome:
        """All samples of a successful parse; on a limit breach ``error`` is set, nothing is
        kept and ``stale`` holds markers for the previous scrape's series."""
        self._iter += 1
        it = self._iter
        cache = self._cache
        if sum(map(len, self._pairs.values())) > 4 * len(cache) + 10_000:
            self._pairs = {}  # bounded: let pairs of gone series go (plans hold pairs too)
            self._plans = {}
        cache_get = cache.get
        sample_limit = self.cfg.sample_limit
        o = Outcome()
        out_series = o.series
        out_values = o.values
        sappend = out_series.append
        vappend = out_values.append
        texts = result.series
        explicit = result.stamps is not None or result.exemplars is not None
        error: str | None = None
        dropped = dups = added = 0
        limit = sample_limit if sample_limit > 0 else len(texts) + 1
        over = 0  # samples past sample_limit (counted, not kept)
        n = 0
        if not explicit:
            # The common page: no timestamps, no exemplars.
            for text, v in zip(texts, result.values, strict=True):
                ref = cache_get(text)
                if ref is None:
                    ref = cache[text] = self._resolve(parser, text)
                    if ref is not _DROPPED:
                        added += 1
                if ref.__class__ is not Series:
                    if ref is _DROPPED:
                        dropped += 1
                        continue
                    error = ref.error  # type: ignore[union-attr]
                    n += 1
                    break
                n += 1
                if ref.stamp == it:  # type: ignore[union-attr]
                    dups += 1  # same series twice in one scrape: later ones dropped
                    continue
                ref.stamp = it  # type: ignore[union-attr]
                if len(out_series) >= limit:
                    over += 1  # keep counting, as Prometheus' limitAppender
                    continue
                sappend(ref)  # type: ignore[arg-type]
                vappend(v)
            untracked: list[Series] = []
        else:
            error, dropped, dups, added, over, n, untracked = self._process_explicit(
                parser, result, o, it, limit, ts_ms
            )
        # Prometheus counts samples up to a failing one (its append loop breaks there).
        scraped = n + dropped
        if error is None and over:
            error = SAMPLE_LIMIT_ERROR
        o.scraped = scraped
        o.dropped_by_relabel = dropped
        o.duplicates = dups
        o.series_added = added
        if error is not None:
            o.post_relabel = len(out_series) + over + dups
            o.error = error
            o.series, o.values, o.timestamps, o.exemplars = [], [], None, None
            o.stale = self.fail(ts_ms)
            self._gc(texts, flush=False)
            return o
        o.post_relabel = scraped - dropped
        prev = self.prev
        o.stale = [s for s in prev if s.stamp != it]
        if untracked:
            # explicit timestamps without track_timestamps_staleness: no staleness tracking
            skip = {id(s) for s in untracked}
            self.prev = [s for s in out_series if id(s) not in skip]
        else:
            self.prev = out_series
        self._gc(texts, flush=True)
        return o

    def _process_explicit(
        self, parser: Parser, result: ParseResult, o: Outcome, it: int, limit: int, ts_ms: int
    ) -> tuple[str | None, int, int, int, int, int, list[Series]]:
        """``process`` for pages with timestamps or exemplars (the general loop)."""
        cache = self._cache
        honor_ts = self.cfg.honor_timestamps
        track_ts_stale = self.cfg.track_timestamps_staleness
        stamps = result.stamps
        exemplars = result.exemplars or {}
        ts_out: list[int] = []
        ex_out: dict[int, Exemplar] = {}
        untracked: list[Series] = []
        error: str | None = None
        dropped = dups = added = over = n = 0
        any_ts = False
        for i, (text, v) in enumerate(zip(result.series, result.values, strict=True)):
            ref = cache.get(text)
            if ref is None:
                ref = cache[text] = self._resolve(parser, text)
                if ref is not _DROPPED:
                    added += 1
            if not isinstance(ref, Series):
                if ref is _DROPPED:
                    dropped += 1
                    continue
                assert isinstance(ref, _Failing)
                error = ref.error
                n += 1
                break
            n += 1
            if ref.stamp == it:
                dups += 1
                continue
            ref.stamp = it
            if len(o.series) >= limit:
                over += 1
                continue
            ts = stamps[i] if stamps is not None else None
            if ts is not None and honor_ts:
                any_ts = True
                if not track_ts_stale:
                    untracked.append(ref)
            else:
                ts = ts_ms
            e = exemplars.get(i)
            if e is not None:
                ex_out[len(o.series)] = e
            ts_out.append(ts)
            o.series.append(ref)
            o.values.append(v)
        if any_ts:
            o.timestamps = ts_out
        o.exemplars = ex_out or None
        return error, dropped, dups, added, over, n, untracked

    def fail(self, ts_ms: int) -> list[Series]:
        """A failed scrape (or a target gone): the last scrape's series, which get stale
        markers."""
        stale = self.prev
        self.prev = []
        return stale

    def _gc(self, texts: Sequence[str], flush: bool) -> None:
        # As Prometheus' scrapeCache.iterDone: drop entries unseen this scrape after a
        # success, or when failed scrapes made the cache balloon.
        cache = self._cache
        size = len(cache)
        if not flush and size > self._last_cache_size * 2 + 1000:
            flush = True
        if flush and size > len(texts):
            get = cache.get
            self._cache = cache = {t: e for t in texts if (e := get(t)) is not None}
            # series no text maps to any more: forget them too (churn); prev is a subset
            self._by_labels = {e.labels: e for e in cache.values() if e.__class__ is Series}
        if flush:
            self._last_cache_size = len(cache)

    def report(
        self,
        ts_ms: int,
        up: bool,
        duration: float,
        o: Outcome | None,
    ) -> list[Sample]:
        vals = (
            1.0 if up else 0.0,
            duration,
            float(o.scraped if o else 0),
            float(o.post_relabel if o else 0),
            float(o.series_added if o else 0),
        )
        return [
            Sample(report_labels(n, self.target.labels, self.external), v, ts_ms)
            for n, v in zip(REPORT_NAMES, vals, strict=True)
        ]

    def stale_report(self, ts_ms: int) -> list[Sample]:
        return [
            Sample(report_labels(n, self.target.labels, self.external), STALE_NAN, ts_ms)
            for n in REPORT_NAMES
        ]
