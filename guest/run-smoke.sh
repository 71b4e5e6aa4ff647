#!/usr/bin/env bash
# Manual developer smoke test for the Cryo test guest (not CI).
# Boots the guest under QEMU/TCG with a virtio-blk disk, serial on a unix
# socket chardev and QMP on a unix socket, then exercises the console protocol.
#
# Usage: guest/run-smoke.sh [options]
#   --q35              use -machine q35 instead of pc-i440fx-7.2
#   --qcow2            disk is qcow2 (driver=qcow2) instead of raw
#   --fill MIB         cryo.fill (default 32)
#   --mode MODE        cryo.fillmode random|realistic (default random)
#   --mem MIB          guest RAM (default 128)
#   --migrate          also save state with QMP migrate to exec:cat, restart
#                      QEMU with -incoming and check boot id/counter/checksum
#   --end quit|poweroff|acpi
#                      how to stop: QMP quit (default), the guest 'poweroff'
#                      command, or QMP system_powerdown (ACPI power button)
#   --keep             keep the work directory (serial.log, disk image)
# Environment: CRYO_GUEST_DIR (passed to build-guest.sh), QEMU (binary).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GUEST=$("$HERE/build-guest.sh")
WORK=$(mktemp -d /tmp/cryo-smoke.XXXXXX)
KEEP=0
for a in "$@"; do [[ $a == --keep ]] && KEEP=1; done
cleanup() { if [[ $KEEP == 1 ]]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

python3 - "$GUEST" "$WORK" "$@" <<'PY'
import os, re, socket, subprocess, sys, time, json

guest, work, args = sys.argv[1], sys.argv[2], sys.argv[3:]
opt = dict(machine="pc-i440fx-7.2", fmt="raw", fill=32, mode="random", mem=128,
           migrate=False, end="quit")
it = iter(args)
for a in it:
    if a == "--q35": opt["machine"] = "q35"
    elif a == "--qcow2": opt["fmt"] = "qcow2"
    elif a == "--fill": opt["fill"] = int(next(it))
    elif a == "--mode": opt["mode"] = next(it)
    elif a == "--mem": opt["mem"] = int(next(it))
    elif a == "--migrate": opt["migrate"] = True
    elif a == "--end": opt["end"] = next(it)
    elif a == "--keep": pass
    else: sys.exit(f"unknown option {a}")

QEMU = os.environ.get("QEMU", "qemu-system-x86_64")
disk = os.path.join(work, "disk." + opt["fmt"])
subprocess.run(["qemu-img", "create", "-q", "-f", opt["fmt"], disk, "16M"], check=True)
state = os.path.join(work, "state.bin")
timings = []

def note(k, v):
    timings.append((k, v)); print(f"  [{k}: {v}]", flush=True)

def fail(msg):
    print("FAIL:", msg, flush=True)
    for p in procs: p.kill()
    sys.exit(1)

def qemu_argv(incoming=None):
    d = work
    argv = [QEMU, "-nodefaults", "-no-user-config",
            "-machine", f"{opt['machine']},accel=tcg", "-cpu", "qemu64",
            "-m", str(opt["mem"]), "-smp", "1",
            "-kernel", f"{guest}/vmlinuz", "-initrd", f"{guest}/initramfs.img",
            "-append", f"console=ttyS0 quiet cryo.fill={opt['fill']} cryo.fillmode={opt['mode']}",
            "-display", "none",
            "-chardev", f"socket,id=serial0,path={d}/console.sock,server=on,wait=off,logfile={d}/serial.log",
            "-serial", "chardev:serial0",
            "-blockdev", f"driver=file,filename={disk},node-name=file-vda",
            "-blockdev", f"driver={opt['fmt']},file=file-vda,node-name=vda",
            "-device", "virtio-blk-pci,drive=vda,id=virtio-disk0",
            "-qmp", f"unix:{d}/qmp.sock,server=on,wait=off"]
    if incoming: argv += ["-incoming", incoming]
    return argv

def connect(path, timeout=10):
    end = time.time() + timeout
    while True:
        try:
            s = socket.socket(socket.AF_UNIX); s.connect(path); return s
        except OSError:
            if time.time() > end: raise
            time.sleep(0.02)

class Console:
    def __init__(self, path):
        self.s = connect(path); self.buf = b""
    def readline(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.time()
            if left <= 0: return None
            self.s.settimeout(left)
            try: chunk = self.s.recv(4096)
            except socket.timeout: return None
            if not chunk: return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace").rstrip("\r")
    def expect(self, regex, timeout, show=True):
        deadline = time.time() + timeout
        while True:
            line = self.readline(deadline)
            if line is None: fail(f"timeout waiting for /{regex}/")
            if show: print("  <", line, flush=True)
            m = re.match(regex, line)
            if m: return m
    def cmd(self, line, regex, timeout=60):
        print("  >", line, flush=True)
        t = time.time()
        self.s.sendall(line.encode() + b"\n")
        m = self.expect(regex, timeout)
        return m, time.time() - t

class QMP:
    def __init__(self, path):
        self.f = connect(path).makefile("rwb")
        json.loads(self.f.readline())
        self.do("qmp_capabilities")
    def do(self, cmd, **a):
        self.f.write(json.dumps({"execute": cmd, "arguments": a}).encode() + b"\n"); self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if "return" in r: return r["return"]
            if "error" in r: fail(f"QMP {cmd}: {r['error']}")

procs = []
def start(incoming=None):
    for f in ("console.sock", "qmp.sock"):
        try: os.unlink(os.path.join(work, f))
        except FileNotFoundError: pass
    argv = qemu_argv(incoming)
    print("$", " ".join(f"'{a}'" if " " in a else a for a in argv), flush=True)
    p = subprocess.Popen(argv); procs.append(p)
    t0 = time.time()
    return p, t0, Console(os.path.join(work, "console.sock")), QMP(os.path.join(work, "qmp.sock"))

def host_bytes(off, n):
    img = disk
    if opt["fmt"] != "raw":
        img = os.path.join(work, "flat.raw")
        subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", disk, img], check=True)
    out = subprocess.run(f"dd if={img} bs=1 skip={off} count={n} status=none | od -An -c",
                         shell=True, check=True, capture_output=True, text=True).stdout
    return out.strip()

def heartbeat(con, boot, count=3):
    prev = None
    for _ in range(count):
        m = con.expect(r"COUNTER (\d+) boot=(\S+)$", 10)
        n = int(m.group(1))
        if m.group(2) != boot: fail(f"boot id changed: {m.group(2)} != {boot}")
        if prev is not None and n != prev + 1: fail(f"counter jumped {prev} -> {n}")
        prev = n
    return prev

# ------------------------------------------------------------------ boot
print(f"== boot ({opt['machine']}, {opt['fmt']}, fill={opt['fill']} {opt['mode']}, {opt['mem']} MiB)")
p, t0, con, qmp = start()
m = con.expect(r"CRYO BOOT boot=(\S+)$", 120); boot = m.group(1)
t_boot = time.time() - t0; note("boot to CRYO BOOT", f"{t_boot:.2f}s")
m = con.expect(rf"CRYO FILLED mib=(\d+) boot={boot}$", 600)   # may be clamped (CRYO WARN)
filled = int(m.group(1))
note(f"fill {filled} MiB {opt['mode']}", f"{time.time() - t0 - t_boot:.2f}s")
if filled != opt["fill"]: print(f"  NOTE: fill clamped by the guest to {filled} MiB")
con.expect(rf"COUNTER 1 boot={boot}$", 10)
note("first COUNTER", f"{time.time() - t0:.2f}s")
heartbeat(con, boot, 3)

# ------------------------------------------------------------------ commands
print("== commands")
m, dt = con.cmd("checksum", rf"CHECKSUM ([0-9a-f]{{32}}) boot={boot}$"); csum = m.group(1)
note(f"checksum {filled} MiB", f"{dt:.2f}s")
m, _ = con.cmd("checksum", r"CHECKSUM (\S+)")
if m.group(1) != csum: fail("checksum not stable")
con.cmd("echo hello  world", r"ECHO hello  world$")
con.cmd("write vda 4096 HELLO", r"WROTE vda 4096 5$")
hb = host_bytes(4096, 5)
print("  host image @4096:", hb)
if hb.split() != list("HELLO"): fail(f"host image does not contain HELLO: {hb!r}")
con.cmd("read vda 4096 5", r"READ vda 4096 HELLO$")
con.cmd("readhex vda 4094 8", r"READHEX vda 4094 000048454c4c4f00$")
con.cmd("read vda 0 4", r"READ vda 0 \.\.\.\.$")
con.cmd("frobnicate", r"ERR unknown command$")
con.cmd("write nosuchdev 0 X", r"ERR ")
heartbeat(con, boot, 2)

# ------------------------------------------------------------------ migrate
if opt["migrate"]:
    print("== migrate to exec:cat > state.bin, restart with -incoming")
    m = con.expect(r"COUNTER (\d+) ", 10); last = int(m.group(1))
    t = time.time()
    qmp.do("migrate", uri=f"exec:cat > {state}")
    while True:
        st = qmp.do("query-migrate").get("status")
        if st == "completed": break
        if st in ("failed", "cancelled"): fail(f"migration {st}")
        time.sleep(0.1)
    note("save state", f"{time.time() - t:.2f}s, {os.path.getsize(state) >> 20} MiB")
    qmp.do("quit"); p.wait(30)
    p, t0, con, qmp = start(incoming=f"exec:cat {state}")
    m = con.expect(r"COUNTER (\d+) boot=(\S+)$", 60)
    note("restore to first COUNTER", f"{time.time() - t0:.2f}s")
    if m.group(2) != boot: fail("boot id changed across migration")
    if not (last < int(m.group(1)) <= last + 3): fail(f"counter {m.group(1)} after {last}")
    heartbeat(con, boot, 2)
    m, _ = con.cmd("checksum", rf"CHECKSUM ([0-9a-f]{{32}}) boot={boot}$")
    if m.group(1) != csum: fail("checksum changed across migration")
    con.cmd("read vda 4096 5", r"READ vda 4096 HELLO$")

# ------------------------------------------------------------------ end
print(f"== end via {opt['end']}")
t = time.time()
if opt["end"] == "quit":
    qmp.do("quit")
elif opt["end"] == "poweroff":
    con.cmd("poweroff", rf"POWEROFF boot={boot}$")
elif opt["end"] == "acpi":
    qmp.do("system_powerdown")
    con.expect(r"CRYO ACPI POWEROFF$", 30)
try:
    rc = p.wait(30)
except subprocess.TimeoutExpired:
    fail("QEMU did not exit")
note(f"QEMU exit after {opt['end']}", f"{time.time() - t:.2f}s rc={rc}")
print("PASS")
for k, v in timings: print(f"  {k}: {v}")
PY
