"""A Cryo client for Python, generated at run time from the .proto files in proto/.

No generated code is committed: generate_stubs() runs protoc with gRPC's Python plugin
(Debian: protobuf-compiler-grpc, libprotobuf-dev for the google/protobuf imports) into a build
folder, and connect() imports the result. The runtime is Debian's python3-grpcio.

    cryo = connect("127.0.0.1:7600", build_dir="build")
    cryo.domains.ListDomains(cryo.api.domain.ListDomainsRequest(), timeout=30)
"""

import importlib
import os
import pathlib
import re
import shutil
import subprocess
import sys
import threading
import types

import grpc

PROTO_ROOT = pathlib.Path(__file__).resolve().parents[2] / "proto" / "src" / "main" / "proto"
# Where Debian's libprotobuf-dev puts google/protobuf/*.proto (timestamp, duration, ...).
WELL_KNOWN_INCLUDES = [pathlib.Path("/usr/include"), pathlib.Path("/usr/local/include")]
CHUNK_BYTES = 1 << 20


class CryoError(Exception):
    """A failed call: code is the gRPC status name (NOT_FOUND, FAILED_PRECONDITION, ...)."""

    def __init__(self, err):
        super().__init__(err.details() if isinstance(err, grpc.RpcError) else str(err))
        self.code = err.code().name if isinstance(err, grpc.RpcError) else "UNKNOWN"


def generate_stubs(build_dir, proto_root=PROTO_ROOT):
    """Generates cryo/v1/*_pb2.py and *_pb2_grpc.py into build_dir; returns build_dir."""
    build_dir = pathlib.Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    files = sorted(str(p.relative_to(proto_root))
                   for p in (proto_root / "cryo" / "v1").glob("*.proto"))
    if not files:
        raise RuntimeError(f"no .proto files in {proto_root}/cryo/v1")
    protoc = shutil.which("protoc")
    plugin = shutil.which("grpc_python_plugin")
    if protoc and plugin:
        includes = [d for d in WELL_KNOWN_INCLUDES
                    if (d / "google/protobuf/timestamp.proto").exists()]
        if not includes:
            raise RuntimeError("protoc cannot find google/protobuf/*.proto: "
                               "install libprotobuf-dev")
        argv = [protoc, f"-I{proto_root}", *(f"-I{d}" for d in includes),
                f"--python_out={build_dir}", f"--grpc_out={build_dir}",
                f"--plugin=protoc-gen-grpc={plugin}", *files]
    else:
        # pip users: grpcio-tools bundles protoc, the plugin and the google/protobuf files.
        try:
            import grpc_tools
        except ImportError:
            raise RuntimeError("no protoc with grpc_python_plugin: install protobuf-compiler-grpc "
                               "and libprotobuf-dev (Debian) or grpcio-tools (pip)") from None
        wkt = pathlib.Path(grpc_tools.__file__).parent / "_proto"
        argv = [sys.executable, "-m", "grpc_tools.protoc", f"-I{proto_root}", f"-I{wkt}",
                f"--python_out={build_dir}", f"--grpc_python_out={build_dir}", *files]
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"protoc failed ({done.returncode}): {done.stderr.strip()}")
    return build_dir


def load_api(build_dir):
    """Imports the generated modules: api.domain is cryo/v1/domain_pb2, api.domain_grpc its
    stubs."""
    build_dir = str(pathlib.Path(build_dir).resolve())
    if build_dir not in sys.path:
        sys.path.insert(0, build_dir)
    api = types.SimpleNamespace()
    for proto in sorted((pathlib.Path(build_dir) / "cryo" / "v1").glob("*_pb2.py")):
        base = proto.stem[: -len("_pb2")]
        setattr(api, base, importlib.import_module(f"cryo.v1.{base}_pb2"))
        setattr(api, base + "_grpc", importlib.import_module(f"cryo.v1.{base}_pb2_grpc"))
    return api


class Cryo:
    """One channel to a Cryo server, a stub per service; plaintext, as the Java SDK's default."""

    def __init__(self, target, api):
        self.api = api
        self.channel = grpc.insecure_channel(target)
        self.domains = api.domain_grpc.DomainServiceStub(self.channel)
        self.images = api.image_grpc.ImageServiceStub(self.channel)
        self.snapshots = api.snapshot_grpc.SnapshotServiceStub(self.channel)

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(target, build_dir):
    """Generates the stubs into build_dir and connects to target (host:port or unix:///path)."""
    return Cryo(target, load_api(generate_stubs(build_dir)))


def list_all(method, request, items_field, page_size=100, timeout=60):
    """Every item of a List RPC, page by page; returns (items, pages).

    Follows AIP-158: sets page_size, sends each next_page_token back as page_token until it is
    empty. The fields are looked up in the generated messages, so against an API without them
    (cryo.v1 before paging) the same loop makes one call and gets everything in one page.
    """
    fields = request.DESCRIPTOR.fields_by_name
    if "page_size" in fields:
        request.page_size = page_size
    items, pages, seen = [], 0, set()
    while True:
        try:
            response = method(request, timeout=timeout)
        except grpc.RpcError as e:
            raise CryoError(e) from None
        pages += 1
        items.extend(getattr(response, items_field))
        token = ""
        if "next_page_token" in response.DESCRIPTOR.fields_by_name and "page_token" in fields:
            token = response.next_page_token
        if not token:
            return items, pages
        if token in seen:
            raise RuntimeError(f"server repeated page token {token!r}")
        seen.add(token)
        request.page_token = token


def await_console_line(cryo, name, pattern, timeout=180):
    """Reads the domain's serial console (live output only) until a line matches pattern.

    Returns the re.Match. OpenConsole is bidirectional: our side stays open (the generator below
    blocks) until we have the line, then the call is cancelled, which detaches.
    """
    pattern = re.compile(pattern)
    detached = threading.Event()

    def requests():
        # Negative history: no replay of output from before the attach.
        yield cryo.api.domain.OpenConsoleRequest(name=name, history_bytes=-1)
        detached.wait()

    call = cryo.domains.OpenConsole(requests(), timeout=timeout)
    partial = b""
    try:
        for msg in call:
            partial += msg.data
            while b"\n" in partial:
                line, partial = partial.split(b"\n", 1)
                match = pattern.search(line.decode("utf-8", "replace").replace("\r", ""))
                if match:
                    return match
        raise RuntimeError(f"console of {name} ended before a line matched {pattern.pattern}")
    except grpc.RpcError as e:
        if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            raise TimeoutError(f"no console line of {name} matched {pattern.pattern} "
                               f"within {timeout} s") from None
        raise CryoError(e) from None
    finally:
        detached.set()
        call.cancel()


def save_to_file(cryo, name, path, timeout=300, on_progress=None):
    """SaveDomain with the image streamed into a new file at path; returns the SaveSummary.

    Each chunk is written as it arrives. gRPC Python reads the next message of a response stream
    only when the loop asks for it, so while the disk is slow the messages wait in the transport
    and HTTP/2 flow control holds the server back: memory stays bounded by the window, not the
    image. The file is fsynced before the summary is returned: the guest is gone from the server
    once the save completes.
    """
    img = cryo.api.image
    request = img.SaveDomainRequest(name=name, stream=True, compression=img.COMPRESSION_ZSTD,
                                     after=img.AFTER_SAVE_STOP)
    summary = None
    call = cryo.images.SaveDomain(request, timeout=timeout)
    try:
        with open(path, "xb") as out:
            for msg in call:
                kind = msg.WhichOneof("event")
                if kind == "chunk":
                    out.write(msg.chunk)
                elif kind == "summary":
                    summary = msg.summary
                elif kind == "progress" and on_progress:
                    on_progress(msg.progress)
            if summary is None:
                raise RuntimeError("the save ended without a summary")
            out.flush()
            os.fsync(out.fileno())
    except BaseException as e:
        call.cancel()
        if not isinstance(e, FileExistsError):
            pathlib.Path(path).unlink(missing_ok=True)
        if isinstance(e, grpc.RpcError):
            raise CryoError(e) from None
        raise
    return summary


def restore_from_file(cryo, path, trailer=None, timeout=300):
    """RestoreDomain from a local image file; returns the RestoreDomainResponse.

    The request stream is a generator that reads the file one chunk at a time: gRPC Python pulls
    the next request only after it has handed the previous one to the transport, so at most a
    few chunks are in memory whatever the image's size. trailer (the save summary's digest)
    lets the server verify the payload.
    """
    img = cryo.api.image

    def requests():
        yield img.RestoreDomainRequest(options=img.RestoreOptions(stream=True))
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield img.RestoreDomainRequest(chunk=chunk)
        if trailer is not None:
            yield img.RestoreDomainRequest(trailer=trailer)

    try:
        return cryo.images.RestoreDomain(requests(), timeout=timeout)
    except grpc.RpcError as e:
        raise CryoError(e) from None
