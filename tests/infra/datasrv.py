#!/usr/bin/python3
"""datasrv: a small HTTP server that keeps files on its volume, the e2e tests' component.

  GET /healthz       200 "ok"
  GET /whoami        the pod's hostname
  GET /starts        DATA_DIR/starts.log: one "<hostname> <unix time>" line per start
  GET /files/NAME    DATA_DIR/NAME (404 when absent)
  PUT /files/NAME    write the body to DATA_DIR/NAME (atomically; 201)

Env: PORT (8080), DATA_DIR (/data), START_DELAY (seconds before it listens, to make an ordered
start observable), STOP_DELAY (seconds it keeps serving after SIGTERM, to make overlapping pods
observable). Runs as any user; writes nothing outside DATA_DIR.
"""

import http.server
import os
import signal
import socket
import sys
import threading
import time

PORT = int(os.environ.get("PORT", "8080"))
DATA = os.environ.get("DATA_DIR", "/data")
HOST = socket.gethostname()


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} datasrv {HOST}: {msg}", file=sys.stderr, flush=True)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def _send(self, code, body=b""):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self):
        name = self.path[len("/files/"):]
        if not name or "/" in name or name.startswith("."):
            return None
        return os.path.join(DATA, name)

    def do_GET(self):
        if self.path == "/healthz":
            return self._send(200, b"ok\n")
        if self.path == "/whoami":
            return self._send(200, HOST.encode() + b"\n")
        if self.path == "/starts":
            path = os.path.join(DATA, "starts.log")
        elif self.path.startswith("/files/"):
            path = self._file()
        else:
            return self._send(404, b"not found\n")
        try:
            with open(path or "", "rb") as f:
                return self._send(200, f.read())
        except OSError:
            return self._send(404, b"no such file\n")

    def do_PUT(self):
        path = self._file() if self.path.startswith("/files/") else None
        if not path:
            return self._send(400, b"PUT /files/NAME\n")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return self._send(201, b"stored\n")

    def log_message(self, fmt, *args):
        pass


def on_term(*_):
    delay = float(os.environ.get("STOP_DELAY", "0"))
    log(f"SIGTERM: stopping in {delay:g}s")
    threading.Thread(target=lambda: (time.sleep(delay), os._exit(0)), daemon=True).start()


def main():
    signal.signal(signal.SIGTERM, on_term)
    time.sleep(float(os.environ.get("START_DELAY", "0")))
    try:
        with open(os.path.join(DATA, "starts.log"), "a") as f:
            f.write(f"{HOST} {int(time.time())}\n")
    except OSError as err:
        log(f"cannot record the start in {DATA}: {err}")
    server = http.server.ThreadingHTTPServer(("", PORT), Handler)
    server.daemon_threads = True
    log(f"serving on {PORT}, data in {DATA}")
    server.serve_forever()


if __name__ == "__main__":
    main()
