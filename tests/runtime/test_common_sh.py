"""The library's common.sh in each default image's shell and tool set (the image's stand-in root,
tests/infra/images.py): every function works there, and `pause` really waits whatever stdin is
(a Job's stdin is closed)."""

from __future__ import annotations

import subprocess
import time

import pytest

from chartgen.presets import library_dir
from tests.infra import images, roots

COMMON = library_dir() / "files" / "common.sh"
SHELL_IMAGES = [key for key, entry in images.manifest().items() if entry.get("shell", "none") != "none"]
MOUNTS = {"/lib/common.sh": COMMON}


def sh(key: str, script: str, timeout: float = 30, volumes=None, **env) -> subprocess.CompletedProcess:
    return roots.run(images.recipe_for(key), ["/bin/sh", "-c", f". /lib/common.sh\n{script}"], timeout=timeout,
                     volumes={**MOUNTS, **(volumes or {})},
                     env={"POD_NAME": "x-2", "PEERS": "x-0.h.ns x-1.h.ns x-2.h.ns", **env})


@pytest.mark.parametrize("key", SHELL_IMAGES)
def test_pause_waits_with_stdin_closed(key):
    t0 = time.monotonic()
    proc = sh(key, "pause 1.5 && echo waited")
    took = time.monotonic() - t0
    assert proc.returncode == 0 and proc.stdout.strip() == "waited", proc.stderr
    assert took >= 1.4, f"{key}: pause 1.5 returned after {took:.2f}s"


@pytest.mark.parametrize("key", SHELL_IMAGES)
def test_a_trapped_signal_ends_a_pause_at_once(key):
    import os
    import signal

    root = roots.ContainerRoot(images.recipe_for(key), MOUNTS).__enter__()
    proc = subprocess.Popen(["env", "-i", "PATH=/usr/local/bin:/usr/bin:/bin", *root.command(
        ["/bin/sh", "-c", ". /lib/common.sh\ntrap 'echo stopped; exit 0' TERM\necho started\npause 30\necho late"])],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        time.sleep(0.3)
        t0 = time.monotonic()
        proc.terminate()  # the shell only, as the kubelet signals a container's main process
        assert proc.stdout.readline().strip() == "stopped"
        assert proc.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 5
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a `sleep` child outlives its shell; the container ends it
        except ProcessLookupError:
            pass
        proc.wait()
        root.close()


@pytest.mark.parametrize("key", SHELL_IMAGES)
def test_peers_and_helpers(key):
    script = """
printf '%s|' "$(ordinal)" "$(peer_count)" "$(peer_at 1)" "$(self_fqdn)" "$(pod_of x-1.h.ns)"
peer_at 7 || printf 'none|'
show() { printf '%s:%s,' "$2" "$1"; }
each_peer show 1
printf '|'
n=0; count() { n=$((n + 1)); }; each_line "a${NL}${NL}b${NL}c" count; printf '%s|' "$n"
printf 'line1\\nlast' > "$T/f"; read_file "$T/f" | { read -r a; read -r b; printf '%s+%s|' "$a" "$b"; }
tries=0; flaky() { tries=$((tries + 1)); [ "$tries" -ge 3 ]; }
retry 5 0.1 flaky && printf 'retried %s|' "$tries"
retry 2 0.1 false || printf 'gave up|'
"""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        proc = sh(key, script, volumes={"/t": tmp}, T="/t")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("2|3|x-1.h.ns|x-2.h.ns|x-1|none|0:x-0.h.ns,2:x-2.h.ns,|3|line1+last|"
                           "retried 3|gave up|"), proc.stdout


def test_pause_says_so_where_it_cannot_wait(tmp_path):
    """A shell with neither sleep nor bash (dash alone) cannot wait: pause fails loudly."""
    (tmp_path / "sh").symlink_to("/bin/dash")
    proc = subprocess.run([str(tmp_path / "sh"), "-c", f". {COMMON}\npause 1 || echo refused"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, env={"PATH": str(tmp_path)})
    assert "refused" in proc.stdout and "cannot wait" in proc.stderr
