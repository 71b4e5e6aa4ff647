#!/usr/bin/env python3
"""What an orchestrator does with Cryo, from Python, built only from proto/ at run time.

Lists domains, pages through them, boots the test guest, reads its heartbeat on the serial
console, saves it as a stream into a local file, restores it from that file and checks the
guest carries on (same boot id, counter continues), then removes what it created. Prints
progress, then one JSON summary line (the conformance kit parses it).

    python3 tour.py --target 127.0.0.1:7600 --kernel vmlinuz --initrd initramfs.img
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import uuid
from xml.sax.saxutils import escape

import grpc

from cryo_client import (CryoError, await_console_line, connect, list_all, restore_from_file,
                         save_to_file)

COUNTER = r"COUNTER (\d+) boot=(\S+)"
PAGE_SIZE = 2
EXTRA_DOMAINS = 3  # shut-off domains defined only so the listing has several pages


def guest_xml(name, kernel, initrd, cmdline):
    return f"""<domain type='kvm'>
  <name>{escape(name)}</name>
  <uuid>{uuid.uuid4()}</uuid>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{escape(kernel)}</kernel>
    <initrd>{escape(initrd)}</initrd>
    <cmdline>{escape(cmdline)}</cmdline>
  </os>
  <devices>
    <serial type='pty'><target port='0'/></serial>
  </devices>
</domain>
"""


def call(method, request, timeout=120):
    """A unary call with a deadline; a failure becomes a CryoError naming the status."""
    try:
        return method(request, timeout=timeout)
    except grpc.RpcError as e:
        raise CryoError(e) from None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=os.environ.get("CRYO_TARGET", "127.0.0.1:7600"))
    parser.add_argument("--kernel", required=True)
    parser.add_argument("--initrd", required=True)
    parser.add_argument("--name", default=f"py-{os.getpid()}")
    parser.add_argument("--file", help="where the saved image goes (default: a temporary file)")
    parser.add_argument("--build-dir", help="where the stubs are generated (default: temporary)")
    opts = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cryo-py-") as tmp:
        build_dir = opts.build_dir or os.path.join(tmp, "gen")
        image = opts.file or os.path.join(tmp, f"{opts.name}.save")
        with connect(opts.target, build_dir) as cryo:
            return tour(cryo, opts, image)


def tour(cryo, opts, image):
    dom = cryo.api.domain
    name = opts.name
    extras = [f"{name}-page-{i}" for i in range(EXTRA_DOMAINS)]
    defined = []
    try:
        listed = call(cryo.domains.ListDomains, dom.ListDomainsRequest()).domains
        shown = ", ".join(f"{d.name} ({dom.DomainState.Name(d.state)})" for d in listed)
        print(f"domains on {opts.target}: {shown or 'none'}")

        for extra in extras:
            call(cryo.domains.DefineDomain, dom.DefineDomainRequest(
                xml=guest_xml(extra, opts.kernel, opts.initrd, "console=ttyS0 quiet")))
            defined.append(extra)
        paged, pages = list_all(cryo.domains.ListDomains, dom.ListDomainsRequest(), "domains",
                                page_size=PAGE_SIZE)
        paged_names = [d.name for d in paged]
        print(f"paged through {len(paged_names)} domains in {pages} page(s) of at most {PAGE_SIZE}")

        call(cryo.domains.DefineDomain, dom.DefineDomainRequest(xml=guest_xml(
            name, opts.kernel, opts.initrd, "console=ttyS0 quiet no_timer_check cryo.fill=8")))
        defined.append(name)
        started = call(cryo.domains.StartDomain, dom.StartDomainRequest(name=name)).domain
        print(f"started {name}: {dom.DomainState.Name(started.state)}, pid {started.pid}")
        await_console_line(cryo, name, r"CRYO FILLED", timeout=240)
        before = await_console_line(cryo, name, COUNTER)
        print(f"heartbeat before save: {before.group(0)}")

        summary = save_to_file(cryo, name, image)
        size = pathlib.Path(image).stat().st_size
        print(f"saved {name} to {image}: {size} bytes, sha256 {summary.sha256}, "
              f"{dom.DomainState.Name(summary.domain.state)}")

        img = cryo.api.image
        restored = restore_from_file(cryo, image, img.ImageTrailer(
            sha256=summary.sha256, payload_bytes=summary.payload_bytes))
        print(f"restored {name}: {dom.DomainState.Name(restored.domain.state)}, "
              f"verified {restored.verified}")
        after = await_console_line(cryo, name, COUNTER)
        print(f"heartbeat after restore: {after.group(0)}")

        destroyed = call(cryo.domains.DestroyDomain, dom.DestroyDomainRequest(name=name)).domain
        for each in list(defined):
            call(cryo.domains.UndefineDomain, dom.UndefineDomainRequest(name=each))
            defined.remove(each)
        print(f"destroyed and undefined {name} and {len(extras)} paging domains")

        with open(image, "rb") as f:
            magic = f.read(16)
        print(json.dumps({
            "listed": len(listed),
            "domain": name,
            "pagingDomains": extras,
            "pagedNames": paged_names,
            "pages": pages,
            "pageSize": PAGE_SIZE,
            "pagedApi": "page_token" in dom.ListDomainsRequest.DESCRIPTOR.fields_by_name,
            "heartbeat": before.group(0),
            "bootBefore": before.group(2),
            "counterBefore": int(before.group(1)),
            "bootAfter": after.group(2),
            "counterAfter": int(after.group(1)),
            "imageBytes": size,
            "summaryImageBytes": summary.image_bytes,
            "magic": magic.decode("ascii", "replace"),
            "savedState": dom.DomainState.Name(summary.domain.state),
            "restoredState": dom.DomainState.Name(restored.domain.state),
            "verified": restored.verified,
            "finalState": dom.DomainState.Name(destroyed.state),
        }))
        return 0
    finally:
        # Leave nothing behind after a failure.
        for each in defined:
            for method, request in (
                    (cryo.domains.DestroyDomain, dom.DestroyDomainRequest(name=each)),
                    (cryo.domains.UndefineDomain, dom.UndefineDomainRequest(name=each))):
                try:
                    method(request, timeout=60)
                except Exception:
                    pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (CryoError, RuntimeError, TimeoutError, OSError) as e:
        code = getattr(e, "code", None)
        print(f"tour.py: {code + ': ' if isinstance(code, str) else ''}{e}", file=sys.stderr)
        sys.exit(1)
