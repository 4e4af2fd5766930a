"""``static_configs`` as a discoverer: one group per entry, source ``"<index>"``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agent.config import StaticConfig
from agent.discovery import SendGroups
from agent.model import TargetGroup


def static_groups(configs: Sequence[StaticConfig]) -> list[TargetGroup]:
    return [
        TargetGroup(
            source=str(i),
            targets=tuple({"__address__": t} for t in sc.targets),
            labels=dict(sc.labels),
        )
        for i, sc in enumerate(configs)
    ]


class StaticDiscoverer:
    """Sends its groups once, then idles until cancelled."""

    def __init__(self, configs: Sequence[StaticConfig]) -> None:
        self.configs = tuple(configs)

    async def run(self, send: SendGroups) -> None:
        send(static_groups(self.configs))
        await asyncio.Event().wait()
