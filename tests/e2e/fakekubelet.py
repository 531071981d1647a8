"""A kubelet peer for the device plugin tests: it serves Registration on
<dir>/device-plugins/kubelet.sock and dials a plugin's socket the way the kubelet does.
The gRPC stubs are generated at import time from nvbind's own lib/k8s/proto/api.proto
(python3-grpc-tools) into a temporary folder, so the tests speak exactly the API nvbind
was built from."""
import os
import queue
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures

import grpc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PROTO_DIR = os.path.join(REPO, "lib", "k8s", "proto")
API_VERSION = "v1beta1"


def _generate_stubs():
    out = tempfile.mkdtemp(prefix="nvbind-k8s-stubs-")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + PROTO_DIR, "--python_out=" + out,
                    "--grpc_python_out=" + out, os.path.join(PROTO_DIR, "api.proto")], check=True)
    sys.path.insert(0, out)
    import api_pb2  # noqa: E402
    import api_pb2_grpc  # noqa: E402
    shutil.rmtree(out, ignore_errors=True)  # imported: the folder is no longer needed
    sys.path.remove(out)
    return api_pb2, api_pb2_grpc


pb, pb_grpc = _generate_stubs()


class _Registration(pb_grpc.RegistrationServicer):
    def __init__(self, kubelet):
        self.kubelet = kubelet

    def Register(self, request, context):
        if self.kubelet.hang:
            # A kubelet that takes the connection and never answers: held until the caller's deadline.
            left = context.time_remaining()
            self.kubelet.hung.put(request)
            time.sleep(min(left if left is not None else 30.0, 30.0))
            context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "never answered (on purpose)")
        if self.kubelet.refuse > 0:
            self.kubelet.refuse -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "the kubelet is not ready (refused on purpose)")
        # What the kubelet checks before it accepts a plugin.
        if request.version != API_VERSION:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported API version %r" % request.version)
        name = request.resource_name
        if "/" not in name or "." not in name.split("/")[0]:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid resource name %r" % name)
        sock = os.path.join(self.kubelet.plugin_dir, request.endpoint)
        if "/" in request.endpoint or not os.path.exists(sock) or not stat.S_ISSOCK(os.stat(sock).st_mode):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "endpoint %r is no socket in %s" % (
                request.endpoint, self.kubelet.plugin_dir))
        if self.kubelet.connect_first:
            # As the kubelet does since 1.26 (devicemanager's connectClient): dial the plugin and
            # ask its options before Register returns, within Register's own deadline.
            left = context.time_remaining()
            with grpc.insecure_channel("unix:" + sock) as ch:
                try:
                    pb_grpc.DevicePluginStub(ch).GetDevicePluginOptions(
                        pb.Empty(), timeout=min(10.0, left) if left is not None else 10.0)
                except grpc.RpcError as e:
                    context.abort(grpc.StatusCode.UNKNOWN, "failed to get device plugin options: %s" % e.code())
        self.kubelet.registrations.put(request)
        return pb.Empty()


class FakeKubelet:
    def __init__(self, kubelet_dir):
        self.dir = kubelet_dir
        self.plugin_dir = os.path.join(kubelet_dir, "device-plugins")
        os.makedirs(self.plugin_dir, exist_ok=True)
        self.sock = os.path.join(self.plugin_dir, "kubelet.sock")
        self.registrations = queue.Queue()
        self.refuse = 0  # refuse this many Register calls (a kubelet still starting)
        self.connect_first = True  # call the plugin back before answering Register (kubelet >= 1.26)
        self.hang = False  # take Register calls and never answer them
        self.hung = queue.Queue()
        self.server = None
        self.channels = []

    def start(self):
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb_grpc.add_RegistrationServicer_to_server(_Registration(self), self.server)
        self.server.add_insecure_port("unix:" + self.sock)
        self.server.start()

    def stop(self):
        if self.server:
            self.server.stop(0).wait()
            self.server = None
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        for ch in self.channels:
            ch.close()
        self.channels = []

    def restart(self):
        """Like a kubelet restart: kubelet.sock made anew and the plugins' sockets removed
        (the kubelet clears its device-plugins folder when it starts)."""
        self.stop()
        for name in os.listdir(self.plugin_dir):
            path = os.path.join(self.plugin_dir, name)
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                os.unlink(path)
        self.start()

    def wait_registration(self, timeout=15):
        return self.registrations.get(timeout=timeout)

    def plugin(self, endpoint):
        ch = grpc.insecure_channel("unix:" + os.path.join(self.plugin_dir, endpoint))
        self.channels.append(ch)
        return pb_grpc.DevicePluginStub(ch)


class Watch:
    """A ListAndWatch stream read on a thread: each message's devices as {id: (health, numa)}."""

    def __init__(self, stub):
        self.updates = queue.Queue()
        self.call = stub.ListAndWatch(pb.Empty())
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for msg in self.call:
                self.updates.put({d.ID: (d.health, [n.ID for n in d.topology.nodes]) for d in msg.devices})
        except grpc.RpcError as e:
            self.updates.put(e)

    def next(self, timeout=10):
        item = self.updates.get(timeout=timeout)
        if isinstance(item, Exception):
            raise item
        return item

    def until(self, predicate, timeout=5):
        """The first message within timeout for which predicate holds (AssertionError if none)."""
        import time
        end = time.monotonic() + timeout
        seen = []
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no ListAndWatch message matched within %ss; saw %r" % (timeout, seen))
            try:
                msg = self.next(timeout=left)
            except queue.Empty:
                continue
            seen.append(msg)
            if predicate(msg):
                return msg

    def close(self):
        self.call.cancel()
