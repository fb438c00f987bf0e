"""What a mailsift plugin written in Python needs besides its analysis.

mailsift starts a plugin as a child process and talks to it with the
handshake of hashicorp/go-plugin: the plugin serves gRPC on a socket, prints
one line saying where, and answers the mailsift.plugin.v1 Analyzer service,
gRPC health for the service "plugin", and go-plugin's controller, through
which mailsift asks it to stop. This module does all of that; a plugin
subclasses Analyzer and calls serve().

It needs Debian's python3-grpcio and python3-protobuf, for /usr/bin/python3.
The generated stubs are in gen/ beside this file (`make proto` regenerates
them).
"""

import json
import logging
import os
import signal
import sys
import tempfile
import threading
import traceback
from concurrent import futures

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "gen"))

import grpc  # noqa: E402

from goplugin import controller_pb2, controller_pb2_grpc  # noqa: E402
from mailsift.plugin.v1 import plugin_pb2, plugin_pb2_grpc  # noqa: E402
from pluginhealth import health_pb2, health_pb2_grpc  # noqa: E402

__all__ = ["Analyzer", "Retry", "response", "serve", "pb", "log"]

# The generated messages and enums (AnalyzeRequest, STATUS_OK, ...).
pb = plugin_pb2

# The contract version this module speaks, and go-plugin's own.
PROTOCOL_VERSION = 1
CORE_PROTOCOL_VERSION = 1
MAGIC_COOKIE_KEY = "MAILSIFT_PLUGIN"
MAGIC_COOKIE_VALUE = "3f1c7b0e-analyzer"
MAX_MESSAGE = 256 << 20

log = logging.getLogger("plugin")


class Analyzer:
    """Subclass this, set the class attributes, and implement analyze()."""

    name = "python-plugin"
    version = ""
    doc = ""
    # What analyze() reads: pb.INPUT_PARSED (request.message: header,
    # text, html, links, parts without their contents), pb.INPUT_RAW
    # (request.raw, the message as fetched: parse it with the email
    # package), or pb.INPUT_BOTH.
    needs = pb.INPUT_PARSED
    # How long one analysis may take unless mailsift's config says
    # otherwise; 0 keeps mailsift's default (10 s).
    timeout_ms = 0
    # True when a failure of this plugin leaves a message's safety unknown.
    security = False

    def analyze(self, request):
        """Return a pb.AnalyzeResponse for a pb.AnalyzeRequest.

        Raise Retry when the analysis cannot be done now but may work later;
        any other exception becomes an error result for this message.
        """
        raise NotImplementedError


class Retry(Exception):
    """The analysis could not be done now; mailsift retries the message later."""


def response(symbols=(), verdict=None, data=None, status=pb.STATUS_OK, error=""):
    """Build an AnalyzeResponse.

    symbols is a list of (name, score, [options]); the score of the result is
    their sum. data is any JSON-serialisable value.
    """
    out = pb.AnalyzeResponse(status=status, error=error)
    for name, score, options in symbols:
        out.symbols.add(name=name, score=score, options=list(options))
        out.score += score
    if verdict is not None:
        out.verdict = verdict
    if data is not None:
        out.data_json = json.dumps(data, separators=(",", ":")).encode()
    return out


class _AnalyzerService(plugin_pb2_grpc.AnalyzerServicer):
    def __init__(self, analyzer):
        self.analyzer = analyzer

    def Describe(self, request, context):
        a = self.analyzer
        return pb.DescribeResponse(
            name=a.name, version=a.version, doc=a.doc, needs=a.needs,
            timeout_ms=a.timeout_ms, security=a.security)

    def Analyze(self, request, context):
        try:
            return self.analyzer.analyze(request)
        except Retry as e:
            return pb.AnalyzeResponse(retry=True, error=str(e) or "try again later")
        except Exception as e:  # a bug in the analysis: an error result, not a dead plugin
            log.error("analysis failed: %s", "".join(traceback.format_exception(e)).strip())
            return pb.AnalyzeResponse(
                status=pb.STATUS_ERROR, verdict=pb.VERDICT_UNKNOWN,
                error="%s: %s" % (type(e).__name__, e))


class _Health(health_pb2_grpc.HealthServicer):
    def Check(self, request, context):
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


class _Controller(controller_pb2_grpc.GRPCControllerServicer):
    def __init__(self, stop):
        self.stop = stop

    def Shutdown(self, request, context):
        self.stop.set()
        return controller_pb2.Empty()


class _JSONLines(logging.Handler):
    """Writes records as the JSON lines mailsift logs at their own level."""

    def emit(self, record):
        try:
            line = {"@level": record.levelname.lower(), "@message": record.getMessage()}
            sys.stderr.write(json.dumps(line) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def serve(analyzer, max_workers=16):
    """Serve analyzer until mailsift stops the plugin. Does not return."""
    if os.environ.get(MAGIC_COOKIE_KEY) != MAGIC_COOKIE_VALUE:
        sys.stderr.write(
            "This program is a mailsift plugin: mailsift starts it. To try it,\n"
            "run: mailsift plugin check --auto-mtls=false %s\n" % sys.argv[0])
        sys.exit(1)

    handler = _JSONLines()
    logging.basicConfig(level=logging.INFO, handlers=[handler])

    stop = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE),
                 ("grpc.max_send_message_length", MAX_MESSAGE)])
    plugin_pb2_grpc.add_AnalyzerServicer_to_server(_AnalyzerService(analyzer), server)
    health_pb2_grpc.add_HealthServicer_to_server(_Health(), server)
    controller_pb2_grpc.add_GRPCControllerServicer_to_server(_Controller(stop), server)

    # A unix socket in a directory only this user can enter: no other local
    # user can reach the plugin, which has no TLS of its own.
    own_dir = None
    sock_dir = os.environ.get("PLUGIN_UNIX_SOCKET_DIR")
    if not sock_dir:
        sock_dir = own_dir = tempfile.mkdtemp(prefix="mailsift-plugin-")
    sock = os.path.join(sock_dir, "plugin-%d.sock" % os.getpid())
    server.add_insecure_port("unix:" + sock)
    server.start()

    # A terminal's Ctrl-C reaches the whole process group; stopping is
    # mailsift's decision, so the plugin waits to be told.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    # The handshake: go-plugin's core version, the contract version, where.
    print("%d|%d|unix|%s|grpc" % (CORE_PROTOCOL_VERSION, PROTOCOL_VERSION, sock), flush=True)

    stop.wait()
    server.stop(grace=1).wait()
    # gRPC may have removed the socket already.
    for remove, path in ((os.unlink, sock), (os.rmdir, own_dir)):
        if path:
            try:
                remove(path)
            except OSError:
                pass
    sys.exit(0)
