"""docs/CONFIGURATION.md can't silently drift from the loader.

- every YAML field the loader knows (the ``_types.py`` dataclasses and the key lists in
  ``_load.py`` / ``_http.py`` / ``_agent.py``) is named in the reference, in backticks;
- every accepted enum value (roles, actions, protocols, ...) is named too;
- the relabel actions table lists exactly Prometheus' eleven actions;
- every complete YAML example in the reference loads without errors;
- the ``scrape_agent`` example, which spells out every default, loads to ``AgentSection()``.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from agent.config import _types, loads
from agent.config._agent import COMPRESSIONS, PROTOCOLS, START_TIMES
from agent.config._http import HTTP_CLIENT_KEYS, K8S_ROLES, TLS_VERSIONS, UNSUPPORTED_SD
from agent.config._load import (
    AGENT_MODE_REJECTED,
    COLLECTOR_REJECTED,
    COLLECTOR_TOP_IGNORED,
    ESCAPING_SCHEMES,
    GLOBAL_KEYS,
    IGNORED_SECTIONS,
    RECEIVER_IGNORED,
    RELABEL_KEYS,
    SCRAPE_KEYS,
    SCRAPE_PROTOCOLS,
    TOP_KEYS,
    VALIDATION_SCHEMES,
)
from relabel._config import ACTIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "CONFIGURATION.md"

# Dataclass fields that are not YAML keys (computed by the loader, or the inline http_config).
NOT_YAML = {
    ("Config", "global_config"),
    ("Config", "scrape_configs"),  # a YAML key, but spelled the same; checked below anyway
    ("Config", "agent"),
    ("Config", "source_path"),
    ("Config", "raw"),
    ("Config", "warnings"),
    ("ScrapeConfig", "http_client"),
    ("KubernetesSDConfig", "http_client"),
    ("FileSDConfig", "base_dir"),
    ("OTLPConfig", "signal_path"),
}


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _named(doc: str, name: str) -> bool:
    """``name`` appears in backticks, alone or as the last part of a dotted path."""
    return re.search(r"`([^`\n]*[.\s])?" + re.escape(name) + r"(`|[\s:.(\[])", doc) is not None


def _type_fields() -> list[str]:
    out = []
    for obj in vars(_types).values():
        if (
            isinstance(obj, type)
            and dataclasses.is_dataclass(obj)
            and obj.__module__ == _types.__name__  # not relabel.Rule: see RELABEL_KEYS
        ):
            for f in dataclasses.fields(obj):
                if (obj.__name__, f.name) not in NOT_YAML:
                    out.append(f"{obj.__name__}.{f.name}")
    return sorted(out)


@pytest.mark.parametrize("qualified", _type_fields())
def test_every_dataclass_field_is_documented(doc: str, qualified: str) -> None:
    name = qualified.split(".", 1)[1]
    assert _named(doc, name), f"{qualified}: `{name}` is not in docs/CONFIGURATION.md"


LOADER_KEYS = sorted(
    set(GLOBAL_KEYS)
    | set(SCRAPE_KEYS)
    | set(RELABEL_KEYS)
    | set(HTTP_CLIENT_KEYS)
    | set(UNSUPPORTED_SD)
    | set(IGNORED_SECTIONS)
    | set(AGENT_MODE_REJECTED)
    | set(COLLECTOR_REJECTED)
    | set(COLLECTOR_TOP_IGNORED)
    | set(RECEIVER_IGNORED)
    | set(TOP_KEYS)
)


@pytest.mark.parametrize("key", LOADER_KEYS)
def test_every_loader_key_is_documented(doc: str, key: str) -> None:
    assert _named(doc, key), f"`{key}` is not in docs/CONFIGURATION.md"


VALUES = sorted(
    set(K8S_ROLES)
    | set(ACTIONS)
    | set(SCRAPE_PROTOCOLS)
    | set(VALIDATION_SCHEMES)
    | set(ESCAPING_SCHEMES)
    | set(TLS_VERSIONS)
    | set(PROTOCOLS)
    | set(COMPRESSIONS)
    | set(START_TIMES)
)


@pytest.mark.parametrize("value", VALUES)
def test_every_accepted_value_is_documented(doc: str, value: str) -> None:
    assert _named(doc, value), f"`{value}` is not in docs/CONFIGURATION.md"


def test_actions_table_lists_exactly_the_eleven_actions(doc: str) -> None:
    section = doc.split("### Actions", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([a-z]+)` \|", section, flags=re.M)
    assert rows == list(ACTIONS)
    assert len(rows) == 11


def _yaml_blocks(doc: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", doc, flags=re.S)


def _complete(block: str) -> bool:
    return (
        re.search(r"^(scrape_configs|scrape_config_files|receivers|global):", block, re.M)
        is not None
    )


EXAMPLES = [b for b in _yaml_blocks(DOC.read_text(encoding="utf-8")) if _complete(b)]


def test_examples_are_found() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("block", EXAMPLES, ids=[f"example{i}" for i in range(len(EXAMPLES))])
def test_yaml_examples_load(block: str, tmp_path: Path) -> None:
    cfg = loads(block, source="example.yml", env={"NODE_NAME": "node-a"}, base_dir=str(tmp_path))
    assert cfg.source_path == "example.yml"


def _slug(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation other than ``-``/``_`` removed."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def test_internal_links_point_at_headings(doc: str) -> None:
    slugs = {_slug(h) for h in re.findall(r"^#+ (.+)$", doc, flags=re.M)}
    links = re.findall(r"\]\(#([^)]+)\)", doc)
    assert links, "the reference has no internal links?"
    missing = sorted({link for link in links if link not in slugs})
    assert not missing, f"links to no heading: {missing}"


def test_the_name_check_can_fail(doc: str) -> None:
    assert _named(doc, "scrape_interval")
    assert not _named(doc, "scrape_intervals")
    assert not _named(doc, "no_such_field")


def test_agent_example_spells_out_the_defaults(doc: str) -> None:
    block = next(b for b in _yaml_blocks(doc) if b.startswith("scrape_agent:\n  otlp:"))
    cfg = loads(block, source="agent.yml", env={})
    assert cfg.agent == _types.AgentSection()
    assert cfg.agent == loads("scrape_configs: []\n", env={}).agent
