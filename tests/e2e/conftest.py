"""The e2e suite on one cluster (--cluster=kind|existing, tests/kube.py): fixtures for a cluster,
its client, helm, and a release of each driver (tests/drivers)."""

from __future__ import annotations

import pytest

import chartgen
from tests.drivers import FLAVOR_SCENARIOS, Release, flavor_runs, registry
from tests.kube import Kube, open_cluster

DRIVERS = registry()


@pytest.fixture(scope="session")
def cluster(request):
    return open_cluster(request)


@pytest.fixture(scope="session")
def kube(cluster) -> Kube:
    return Kube(cluster.kubeconfig)


@pytest.fixture(scope="module")
def helm(cluster):
    from chartgen.helm import Helm

    return Helm(kubeconfig=cluster.kubeconfig, timeout="10m")


def pytest_generate_tests(metafunc):
    """A module that takes `batch` and `driver` runs once per batch of drivers (its module's
    BATCH of them at a time, all by default), a test per driver of the batch."""
    if "batch" in metafunc.fixturenames and "driver" in metafunc.fixturenames:
        # a flavor that runs none of the module's tests installs no release there either
        module = metafunc.module.__name__
        names = [n for n, d in DRIVERS.items()
                 if not d.flavor_of or any(flavor_runs(d, f, module, None) for f in FLAVOR_SCENARIOS)]
        size = getattr(metafunc.module, "BATCH", len(names))
        batches = [tuple(names[i:i + size]) for i in range(0, len(names), size)]
        metafunc.parametrize(["batch", "driver"], [pytest.param(b, DRIVERS[n], id=n) for b in batches for n in b],
                             indirect=["batch"], scope="module")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """A flavor's tests beyond what its image changes deselected (tests/drivers: flavor_runs);
    then a batched module's tests in batch order, then in the order the module defines them (and
    its parameters' order): install first, uninstall last, whatever pytest's own reordering."""
    def flavor_left_out(item) -> bool:
        params = getattr(getattr(item, "callspec", None), "params", {})
        d, f = params.get("driver"), params.get("fault")
        return d is not None and "batch" in params and not flavor_runs(
            d, item.function.__name__, item.module.__name__, getattr(f, "name", None))

    left_out = {id(item) for item in items if flavor_left_out(item)}
    if left_out:
        config.hook.pytest_deselected(items=[item for item in items if id(item) in left_out])
        items[:] = [item for item in items if id(item) not in left_out]
    def batched(item) -> bool:
        return "batch" in getattr(item, "callspec", None).params if hasattr(item, "callspec") else False

    chosen = [i for i, item in enumerate(items) if batched(item)]
    order = {id(item): n for n, item in enumerate(items)}
    by_module: dict = {}
    for i in chosen:
        by_module.setdefault(items[i].module.__name__, []).append(i)
    for slots in by_module.values():
        group = [items[i] for i in slots]
        names = list(DRIVERS)
        seen: dict[str, list] = {}   # another parameter's values, in the order they first appear
        for item in group:
            for k, v in item.callspec.params.items():
                if k not in ("batch", "driver") and all(v is not x for x in seen.setdefault(k, [])):
                    seen[k].append(v)

        def key(item):
            b = item.callspec.params["batch"]
            others = [next(n for n, x in enumerate(seen[k]) if x is v)
                      for k, v in sorted(item.callspec.params.items()) if k in seen]
            return (names.index(b[0]), item.function.__code__.co_firstlineno, others,
                    b.index(item.callspec.params["driver"].name), order[id(item)])
        for i, item in zip(slots, sorted(group, key=key)):
            items[i] = item


@pytest.fixture(scope="module")
def batch(request) -> tuple[str, ...]:
    return request.param


def open_releases(request, cluster, kube, helm, prefix: str, names, extra: dict | None = None) -> dict[str, Release]:
    """A release of every driver in NAMES the cluster can run, each in its own namespace
    PREFIX-<driver> with its own API client (the drivers' checks run side by side)."""
    out = {}
    for d in (DRIVERS[n] for n in names):
        if not d.runnable(cluster):
            r = open_release(request, d, cluster, kube, helm, f"{prefix}-{d.name}", extra)
            r.kube = Kube(cluster.kubeconfig)
            out[d.name] = r
    return out


_running: dict[str, pytest.Item] = {}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    _running["item"] = item


def _same_test(item) -> tuple:
    """What makes two drivers' tests the same round: module, function, parameters but theirs."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return (item.module.__name__, item.originalname,
            tuple((k, id(v)) for k, v in sorted(params.items()) if k not in ("driver", "batch")))


class Rounds:
    """What happened to each release of a batch in a round (all of them at once): a test of a
    driver runs its round the first time any driver of the batch needs it, then reads that
    driver's result."""

    # a release a round left unsettled joins a later round only if it settled meanwhile (a
    # short look instead of every later round's full wait for a release that is broken)
    RECHECK_S = 60

    def __init__(self, releases: dict[str, Release], cluster):
        self.releases, self.cluster, self.done = releases, cluster, {}
        self.broken: dict[str, str] = {}   # release name -> the round that left it unsettled

    def _wanted(self) -> set[str]:
        """The releases whose own test of the running kind is selected (a flavor's release joins
        only the rounds of the scenarios its image changes); all of them outside a test."""
        item = _running.get("item")
        if item is None or not hasattr(item, "callspec"):
            return set(self.releases)
        mine = _same_test(item)
        return {it.callspec.params["driver"].name for it in item.session.items
                if hasattr(it, "callspec") and "driver" in it.callspec.params and _same_test(it) == mine}

    def result(self, key: str, driver, fn):
        if driver.name not in self.releases:
            pytest.skip(driver.runnable(self.cluster))
        if key not in self.done:
            self.done[key] = self._run(key, fn)
        got = self.done[key][driver.name]
        if isinstance(got, BaseException):
            raise got
        return got

    def _run(self, key: str, fn) -> dict[str, object]:
        not_run: dict[str, object] = {}
        releases = {n: r for n, r in self.releases.items() if n in self._wanted()}
        for name, r in releases.items():
            if name in self.broken:
                try:
                    r.wait_settled(3, f"{name} before {key}", timeout=self.RECHECK_S, interval=5)
                    del self.broken[name]
                except TimeoutError as err:
                    not_run[name] = RuntimeError(f"not run: {name} has not settled since the "
                                                 f"{self.broken[name]} round ({err})")
        out = fn([r for n, r in releases.items() if n not in not_run]) | not_run
        for name, got in out.items():
            if isinstance(got, TimeoutError):
                self.broken.setdefault(name, key)
        return out


def open_release(request, driver, cluster, kube, helm, ns: str, extra: dict | None = None) -> Release:
    """A release of DRIVER's chart in namespace NS (made afresh), installed with N=3 members;
    skipped, saying why, when the cluster cannot run the driver's images."""
    why = driver.runnable(cluster)
    if why:
        pytest.skip(why)
    kube.delete_namespace(ns)
    chart = chartgen.generate(driver.preset, driver.release, flavor=driver.flavor,
                              output=request.getfixturevalue("tmp_path_factory").mktemp("e2e") / driver.release)
    values = {**driver.install_values(cluster), **driver.e2e_values, **(extra or {})}
    return Release(driver, kube, helm, chart, ns, values)


@pytest.fixture(scope="module", autouse=True)
def fresh_namespace(request):
    """A module's NAMESPACE, deleted first if a previous run left it, and again when the module is
    done (bare pods it leaves would stop a later drain)."""
    ns = getattr(request.module, "NAMESPACE", None)
    if ns is None:
        yield
        return
    kube = request.getfixturevalue("kube")
    kube.delete_namespace(ns)
    yield
    kube.delete_namespace(ns)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, the release's pods, events and logs (chartgen's own diagnostics)."""
    outcome = yield
    report = outcome.get_result()
    cluster = item.funcargs.get("cluster")
    release = item.funcargs.get("release")
    ns, name = (release.ns, release.name) if release is not None else (
        getattr(item.module, "NAMESPACE", None), getattr(item.module, "RELEASE", None))
    if report.when == "call" and report.failed and cluster and ns and name:
        from chartgen import release as releases

        try:
            lines = releases.diagnose(releases.Kube(str(cluster.kubeconfig)), ns, name, every_pod=True, log_lines=40)
        except Exception as err:  # noqa: BLE001 - the report must not hide the failure
            lines = [f"(no diagnostics: {err})"]
        report.sections.append(("cluster state (chartgen diagnostics)", "\n".join(lines)))
