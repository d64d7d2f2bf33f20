"""A fault against a release while its driver's writer writes: what the e2e scenarios assert and
what the bench times (the same code).

    run(release, cluster, fault, n=3) -> Outcome   # figures, acknowledged and lost writes
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

from tests.drivers import Release
from tests.faults import Fault

WINDOW_BEFORE = 5.0       # writes flowing before the fault
WINDOW_AFTER = 5.0        # and after every member is ready again


@dataclass
class Outcome:
    driver: str
    fault: str
    config: str
    resume_s: float          # fault -> writes acknowledged again (end of the longest gap)
    longest_gap_s: float
    acked: int
    lost: int
    ready_s: float           # fault -> settled again
    info: dict = field(default_factory=dict)
    timeline: list[float] = field(default_factory=list)   # ack times relative to the fault

    def line(self) -> str:
        return (f"{self.driver} {self.fault}: writes resume after {self.resume_s:.1f} s, longest gap "
                f"{self.longest_gap_s:.1f} s, settled after {self.ready_s:.1f} s; {self.acked} acknowledged, "
                f"{self.lost} lost {self.info or ''}")

    def as_dict(self) -> dict:
        return asdict(self)


def run(r: Release, cluster, f: Fault, n: int = 3, seq: int = 0, config: str = "defaults") -> Outcome:
    """Fault F against release R (N members) under writes; raises when an acknowledged write is
    lost, when writes never resumed, or when the cluster does not settle."""
    r.wait_settled(n, f"before {f.name}", timeout=600)
    r.kube.wait("calm before the fault", lambda: r.driver.calm(r), timeout=120, interval=2)
    writer = r.start_writer(f"w-{f.name}-{config}-{seq}")
    time.sleep(WINDOW_BEFORE)
    t_fault = time.time()
    info = f.run(r, cluster, n)
    time.sleep(2)
    r.wait_settled(n, f"after {f.name}", timeout=900)
    ready_s = time.time() - t_fault
    time.sleep(WINDOW_AFTER)
    acks = r.stop_writer(writer)
    acked = {seq_ for seq_, _ in acks}
    have = r.driver.read_back(r, writer)
    lost = sorted(acked - have)
    times = [t - t_fault for _, t in acks]
    around = [x for x in times if x >= -1.0]
    gaps = [(b - a, b) for a, b in zip(around, around[1:])]
    longest, end = max(gaps, default=(0.0, 0.0))
    out = Outcome(r.driver.name, f.name, config, max(0.0, end) if longest > 0.5 else 0.0, longest, len(acked),
                  len(lost), ready_s, info, [round(x, 3) for x in times if -5 <= x <= 120])
    print(f"\n{out.line()}")
    assert acks, f"{f.name}: the writer acknowledged nothing"
    assert not lost, f"{f.name}: {len(lost)} acknowledged writes lost: {lost[:10]}"
    assert any(t > ready_s for t in times), f"{f.name}: no write acknowledged after the cluster settled"
    # every member holds every acknowledged write (replicas catch up)
    for pod in r.pods(n):
        r.kube.wait(f"{pod} holds every acknowledged write of {writer}",
                    lambda pod=pod: acked <= r.driver.read_back(r, writer, pod), timeout=120, interval=2)
    return out
