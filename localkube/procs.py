"""Host processes with PID files: start, find, stop. Only PIDs we recorded are touched."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


class Procs:
    def __init__(self, state: Path):
        self.pid_dir = state / "pids"
        self.log_dir = state / "logs"

    def pid_file(self, name: str) -> Path:
        return self.pid_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pid(self, name: str) -> int | None:
        """PID of component NAME if it is alive and still runs what we started."""
        f = self.pid_file(name)
        if not f.exists():
            return None
        try:
            pid_s, _, exe = f.read_text().partition("\n")
            pid = int(pid_s)
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return None
        if stat.rsplit(")", 1)[1].split()[0] == "Z":     # zombie: exited, not reaped
            return None
        return pid if cmdline == exe.strip() else None

    def start(self, name: str, argv: list[str], env: dict | None = None) -> int:
        pid = self.pid(name)
        if pid:
            return pid
        self.pid_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_file(name)
        if log_path.exists() and log_path.stat().st_size > 64 << 20:
            log_path.replace(log_path.with_suffix(".log.1"))
        with open(log_path, "ab") as log:
            log.write(f"\n==== {time.strftime('%F %T')} start: {' '.join(argv)}\n".encode())
            log.flush()
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True,
                                    env=env, close_fds=True)
        self.pid_file(name).write_text(f"{proc.pid}\n{argv[0]}\n")
        # until exec() is done, /proc/PID/cmdline still shows the forking Python
        deadline = time.monotonic() + 5
        while not self.pid(name) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        return proc.pid

    def stop(self, name: str, timeout: float = 15.0) -> bool:
        """SIGTERM, then SIGKILL after TIMEOUT. True if something was stopped."""
        pid = self.pid(name)
        stopped = False
        if pid:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.pid(name) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if self.pid(name):
                os.kill(pid, signal.SIGKILL)
                while self.pid(name):
                    _reap(pid)
                    time.sleep(0.05)
            stopped = True
        self.pid_file(name).unlink(missing_ok=True)
        return stopped

    def tail(self, name: str, lines: int = 40) -> str:
        """The last LINES lines of NAME's log (this run), preceded by its last error lines."""
        f = self.log_file(name)
        if not f.exists():
            return f"(no log {f})"
        text = f.read_text(errors="replace").rsplit("\n==== ", 1)[-1].splitlines()
        last = text[-lines:]
        errs = [ln for ln in text[:-lines] if ln[:1] in ("E", "F") and ln[1:5].isdigit()
                or "level=error" in ln or "level=fatal" in ln or '"level":"fatal"' in ln
                or '"level":"error"' in ln or "[ERROR]" in ln or "[FATAL]" in ln]
        head = (["... earlier error lines:"] + errs[-10:] + ["... last lines:"]) if errs else []
        return "\n".join(head + last)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
