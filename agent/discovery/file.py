"""``file_sd_configs``: target groups from JSON/YAML files, as Prometheus' file discovery.

Each file holds a list of ``{targets: [host:port, ...], labels: {name: value}}``. Group ``i``
of file ``p`` has source ``"<p>:<i>"`` and the label ``__meta_filepath`` = ``p``. Patterns may
glob in their last path element; relative patterns are relative to the config file's
directory (``base_dir``).

The files are re-read when their modification time, size or the set of matched files changes
(checked every ``poll_interval`` seconds) and in any case every ``refresh_interval``. A file
that cannot be read or parsed is logged and its last good groups are kept; a file that
disappears (or now has fewer groups) gets empty groups for its vanished sources.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import yaml

from agent.config import FileSDConfig
from agent.discovery import SendGroups
from agent.model import TargetGroup

log = logging.getLogger("agent.discovery.file")

FILEPATH_LABEL = "__meta_filepath"
_EXTENSIONS = (".json", ".yml", ".yaml")


class FileSDError(ValueError):
    pass


def parse_file(path: str, data: bytes) -> list[TargetGroup]:
    """The groups of one file; raises ``FileSDError`` naming the file and group."""
    try:
        if path.endswith(".json"):
            doc: Any = json.loads(data)
        else:
            doc = yaml.safe_load(data)
    except (ValueError, yaml.YAMLError) as exc:
        raise FileSDError(f"{path}: {exc}") from exc
    if doc is None:
        doc = []
    if not isinstance(doc, list):
        raise FileSDError(f"{path}: expected a list of target groups, got {type(doc).__name__}")
    groups: list[TargetGroup] = []
    for i, item in enumerate(doc):
        where = f"{path}: group {i}"
        if not isinstance(item, Mapping):
            raise FileSDError(f"{where}: expected a mapping with 'targets' and 'labels'")
        unknown = set(item) - {"targets", "labels"}
        if unknown:
            raise FileSDError(f"{where}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        targets = item.get("targets") or []
        labels = item.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise FileSDError(f"{where}: 'targets' must be a list of strings")
        if not isinstance(labels, Mapping):
            raise FileSDError(f"{where}: 'labels' must be a mapping")
        lb: dict[str, str] = {}
        for k, v in labels.items():
            if not isinstance(k, str) or k == "":
                raise FileSDError(f"{where}: invalid label name {k!r}")
            if not isinstance(v, str):
                raise FileSDError(f"{where}: label {k!r} must be a string, got {v!r}")
            lb[k] = v
        lb[FILEPATH_LABEL] = path
        groups.append(
            TargetGroup(
                source=f"{path}:{i}",
                targets=tuple({"__address__": t} for t in targets),
                labels=lb,
            )
        )
    return groups


class FileDiscoverer:
    def __init__(self, cfg: FileSDConfig, poll_interval: float = 2.0) -> None:
        self.cfg = cfg
        self.poll_interval = poll_interval
        self._last_counts: dict[str, int] = {}  # file -> number of groups last sent
        self._stamps: dict[str, tuple[int, int]] = {}

    def patterns(self) -> list[str]:
        out = []
        for p in self.cfg.files:
            if not os.path.isabs(p) and self.cfg.base_dir:
                p = os.path.join(self.cfg.base_dir, p)
            out.append(p)
        return out

    def _list(self) -> dict[str, tuple[int, int]]:
        files: dict[str, tuple[int, int]] = {}
        for pattern in self.patterns():
            for path in sorted(glob.glob(pattern)):
                if not path.endswith(_EXTENSIONS):
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                files[path] = (st.st_mtime_ns, st.st_size)
        return files

    def refresh(self) -> list[TargetGroup]:
        """Read every matched file; the groups to send (incl. empty ones for vanished sources)."""
        stamps = self._list()
        out: list[TargetGroup] = []
        counts: dict[str, int] = {}
        for path in stamps:
            try:
                with open(path, "rb") as f:
                    data = f.read()
                groups = parse_file(path, data)
            except (OSError, FileSDError) as exc:
                log.error("file_sd: cannot read %s, keeping its last targets: %s", path, exc)
                if path in self._last_counts:
                    counts[path] = self._last_counts[path]
                continue
            counts[path] = len(groups)
            out.extend(groups)
        for path, n in self._last_counts.items():
            for i in range(counts.get(path, 0), n):
                out.append(TargetGroup(source=f"{path}:{i}"))
        self._last_counts = counts
        self._stamps = stamps
        return out

    def changed(self) -> bool:
        return self._list() != self._stamps

    async def run(self, send: SendGroups) -> None:
        loop = asyncio.get_running_loop()
        send(await asyncio.to_thread(self.refresh))
        last_full = loop.time()
        while True:
            await asyncio.sleep(min(self.poll_interval, self.cfg.refresh_interval))
            full = loop.time() - last_full >= self.cfg.refresh_interval
            try:
                if full or await asyncio.to_thread(self.changed):
                    send(await asyncio.to_thread(self.refresh))
                    last_full = loop.time()
            except Exception:  # never die on a transient error
                log.exception("file_sd: refresh failed")
