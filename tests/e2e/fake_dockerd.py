"""A stand-in dockerd for tests of what nvbind asks docker's daemon over its socket: named
`dockerd` (its /proc comm), run by root, with the --config-file and -H unix://SOCKET of the
real one. It answers GET /info from its daemon.json as read at start and again on SIGHUP
(docker's reload): ServerVersion 20.10.24 and the file's "runtimes"; every other GET is 404
(no such container). Each request is one line in the file named by --requests.

    python3 fake_dockerd.py --config-file FILE -H unix://SOCKET --requests LOG
"""
import argparse
import ctypes
import http.server
import json
import os
import signal
import socketserver

PR_SET_NAME = 15


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(self.server.requests, "a") as f:
            f.write(self.path + "\n")
        if self.path == "/info":
            body = json.dumps(self.server.info()).encode()
            self.send_response(200)
        else:
            body = b'{"message":"No such container"}'
            self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, socket_path, config, requests):
        self.config, self.requests = config, requests
        self.reload()
        super().__init__(socket_path, Handler)

    def reload(self, *unused):
        try:
            with open(self.config) as f:
                self.runtimes = json.load(f).get("runtimes", {})
        except FileNotFoundError:
            self.runtimes = {}

    def info(self):
        runtimes = {"runc": {"path": "runc"}, **self.runtimes}
        return {"ServerVersion": "20.10.24", "Runtimes": runtimes, "DefaultRuntime": "runc"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config-file", required=True)
    ap.add_argument("-H", required=True)
    ap.add_argument("--requests", required=True)
    a = ap.parse_args()
    ctypes.CDLL(None).prctl(PR_SET_NAME, b"dockerd", 0, 0, 0)
    path = a.H[len("unix://"):]
    if os.path.exists(path):
        os.unlink(path)
    server = Server(path, a.config_file, a.requests)
    signal.signal(signal.SIGHUP, server.reload)
    signal.signal(signal.SIGTERM, lambda *unused: os._exit(0))
    server.serve_forever()


if __name__ == "__main__":
    main()
