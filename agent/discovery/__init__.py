"""Discovery: turn ``*_sd_configs`` into ``TargetGroup`` updates.

Contract (as Prometheus' ``discovery.Discoverer``): a discoverer is an object with

    async def run(self, send: Callable[[list[TargetGroup]], None]) -> None

It sends the full current set of groups first (possibly empty), then only the groups that
changed (a group with no targets means its source is gone). It returns when cancelled and
never raises for transient errors (it logs, backs off and retries). ``send`` is a plain
function called on the event loop; it must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from agent.model import TargetGroup

SendGroups = Callable[[list[TargetGroup]], None]


class Discoverer(Protocol):
    async def run(self, send: SendGroups) -> None: ...
