"""A fault against a release while its driver's writer writes: what the e2e scenarios assert and
what the bench times (the same code).

    run(release, cluster, fault, n=3) -> Outcome   # figures, acknowledged and lost writes
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tests.drivers import Release
from tests.faults import Fault

WINDOW_BEFORE = 3.0       # writes flowing before the fault
WINDOW_AFTER = 3.0        # and after every member is ready again and a write was acknowledged
RESUME_TIMEOUT = 120.0    # settled -> a write acknowledged again, at most
EVIDENCE = Path("out/evidence")   # the members' logs of a scenario that lost a write


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


class Watch:
    """One release under one fault: its writer started before, everything checked after."""

    def __init__(self, r: Release, cluster, f: Fault, n: int, seq: int, config: str, interval: float):
        self.r, self.cluster, self.f, self.n, self.config, self.interval = r, cluster, f, n, config, interval
        r.wait_settled(n, f"before {f.name}", timeout=600, interval=interval)
        r.kube.wait("calm before the fault", lambda: r.driver.calm(r), timeout=300, interval=2)
        self.writer = r.start_writer(f"w-{f.name}-{config}-{seq}")
        self.info: dict = {}

    def finish(self, t_fault: float) -> Outcome:
        """Settled again, the writes read back: the outcome; raises when an acknowledged write
        is lost, when writes never resumed, or when the cluster does not settle (the writer
        removed then: it must not write on into the next scenario)."""
        try:
            return self._finish(t_fault)
        except BaseException:
            self.abort()
            raise

    def strike(self, harm) -> None:
        """HARM() as this watch's fault (its result is the outcome's info); the writer removed
        if the fault fails."""
        try:
            self.info = harm()
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """The writer removed (the fault failed or the check did): it must not write on into
        the next scenario."""
        try:
            self.r.kube.core.delete_namespaced_pod(self.writer, self.r.ns, grace_period_seconds=0)
        except Exception:  # noqa: BLE001 - already gone
            pass

    def _finish(self, t_fault: float) -> Outcome:
        r, f, n = self.r, self.f, self.n
        r.wait_settled(n, f"after {f.name}", timeout=900, interval=self.interval)
        ready_s = time.time() - t_fault
        # writes acknowledged again once it settled (a loaded node's client may take a while)
        r.kube.wait(f"{self.writer}: a write acknowledged after {f.name} settled", lambda: any(
            t - t_fault > ready_s for _, t in r.acks(self.writer, tail=5)), timeout=RESUME_TIMEOUT, interval=1)
        time.sleep(WINDOW_AFTER)
        acks = r.stop_writer(self.writer)
        acked = {seq_ for seq_, _ in acks}
        have = r.kube.wait(f"{self.writer}'s writes read back", lambda: (r.driver.read_back(r, self.writer),),
                           timeout=120, interval=2)[0]   # a loaded member may time a read out
        lost = sorted(acked - have)
        times = [t - t_fault for _, t in acks]
        around = [x for x in times if x >= -1.0]
        gaps = [(b - a, b) for a, b in zip(around, around[1:])]
        longest, end = max(gaps, default=(0.0, 0.0))
        out = Outcome(r.driver.name, f.name, self.config, max(0.0, end) if longest > 0.5 else 0.0, longest,
                      len(acked), len(lost), ready_s, self.info, [round(x, 3) for x in times if -5 <= x <= 120])
        print(f"\n{out.line()}")
        assert acks, f"{r.name} {f.name}: the writer acknowledged nothing"
        if lost:
            when = {seq_: round(t - t_fault, 3) for seq_, t in acks}
            saved = r.kube.save_logs(r.ns, r.selector, EVIDENCE / f"{r.name}-{f.name}-{int(t_fault)}")
            raise AssertionError(f"{r.name} {f.name}: {len(lost)} acknowledged writes lost: {lost[:10]} (acknowledged "
                                 f"at {[when[s] for s in lost[:10]]} s from the fault; members' logs in {saved})")
        assert any(t > ready_s for t in times), f"{r.name} {f.name}: no write acknowledged after it settled"
        for pod in r.pods(n):   # every member holds every acknowledged write (replicas catch up)
            r.kube.wait(f"{pod} holds every acknowledged write of {self.writer}",
                        lambda pod=pod: acked <= r.driver.read_back(r, self.writer, pod), timeout=120, interval=2)
        return out


def run(r: Release, cluster, f: Fault, n: int = 3, seq: int = 0, config: str = "defaults",
        interval: float = 0.5) -> Outcome:
    """Fault F against release R (N members) under writes (the bench: one release at a time)."""
    watch = Watch(r, cluster, f, n, seq, config, interval)
    time.sleep(WINDOW_BEFORE)
    t_fault = time.time()
    watch.strike(lambda: f.run(r, cluster, n))
    time.sleep(2)
    return watch.finish(t_fault)


def together(releases: list[Release], fn) -> dict[str, object]:
    """FN(release) for every release at once (threads); release name -> its result or its error."""
    results: dict[str, object] = {}

    def one(r: Release) -> None:
        try:
            results[r.name] = fn(r)
        except BaseException as err:  # noqa: BLE001 - reported by that release's test
            results[r.name] = err

    threads = [threading.Thread(target=one, args=(r,)) for r in releases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def round_of(releases: list[Release], cluster, f: Fault, n: int = 3) -> dict[str, object]:
    """Fault F for every release at once, each under its own writer (the e2e suite: a round per
    fault, the drivers side by side): a fault that touches one release happens to each of them;
    one that touches nodes or the whole cluster happens once (chosen by the first release).
    Release name -> its Outcome, or the error that fails its test."""
    watches = together(releases, lambda r: Watch(r, cluster, f, n, 0, "e2e", interval=2.0))
    ok = [r for r in releases if isinstance(watches[r.name], Watch)]
    time.sleep(WINDOW_BEFORE)
    t_fault = time.time()
    if f.disruptive:
        try:
            info = f.run(ok[0], cluster, n) if ok else {}
            for r in ok:
                watches[r.name].info = info
        except BaseException as err:  # noqa: BLE001 - every release's test reports it
            for r in ok:
                watches[r.name].abort()
            return {r.name: err for r in releases}
    else:
        def hit(r: Release):
            watches[r.name].strike(lambda: f.run(r, cluster, n))
        failed = {k: v for k, v in together(ok, hit).items() if isinstance(v, BaseException)}
        ok = [r for r in ok if r.name not in failed]
        watches.update(failed)
    time.sleep(2)
    done = together(ok, lambda r: watches[r.name].finish(t_fault))
    return {r.name: done.get(r.name, watches[r.name]) for r in releases}
