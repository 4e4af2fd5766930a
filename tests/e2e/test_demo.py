from __future__ import annotations

import re
import subprocess
import sys


def test_demo_exits_zero_and_reports_exported_points() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "agent", "demo"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    last = out.stdout.strip().splitlines()[-1]
    m = re.fullmatch(r"exported (\d+) points", last)
    assert m and int(m.group(1)) > 0, out.stdout
    assert "kube-state-metrics   UP" in out.stdout and "kubelet-cadvisor     UP" in out.stdout
    assert "Traceback" not in out.stderr
