package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.AfterSave;
import dev.cryo.client.Domains;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveSummary;
import dev.cryo.server.qemu.HostCapabilities;
import dev.cryo.server.qemu.QemuCommandLine;
import dev.cryo.server.qemu.QemuEvent;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuSpec;
import dev.cryo.server.qemu.RunDir;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code bench/save-restore}: times Cryo's save and restore paths against raw QEMU and, where
 * libvirt is installed, {@code virsh save} / {@code virsh restore}, on the same guest
 * configuration in the same run, and prints a table with MB/s, image sizes and ratios. Each path
 * runs {@code cryo.bench.repeat} times (default 3) and the table gives the median and the minimum:
 * other QEMU work on the host makes single runs noisy. Cryo's paths run once on a small guest
 * first, untimed, so the figures measure a JIT-warm server and client. Enabled only with {@code
 * -Dcryo.bench=true}; sizes from {@code cryo.bench.mem} / {@code cryo.bench.fill} (MiB) and fill
 * modes from {@code cryo.bench.modes} (random,realistic).
 */
@EnabledIfSystemProperty(named = "cryo.bench", matches = "true")
@Timeout(14400)
@LocalServer("measures the server process's CPU time")
class SaveRestoreBench {
  static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");
  /** The copy loop's buffer when the bench JVM feeds QEMU's incoming migration. */
  static final int COPY_BUFFER_BYTES = 1 << 20;

  @TempDir Path temp;
  final StringBuilder out = new StringBuilder();
  int repeat;
  int runDirs;
  /** CPU seconds (client, server, QEMU) of the last baseline run that measures them. */
  double[] lastCpu;

  /** One timed path: the seconds of every run, and the bytes it moved. */
  static final class Row {
    final List<Double> seconds = new ArrayList<>();
    long imageBytes;
    /** Bytes of QEMU's (uncompressed) migration stream: the MB/s column is over these. */
    long streamBytes;
    /** CPU seconds of each run, client / server / QEMU, where measured. */
    final List<double[]> cpu = new ArrayList<>();

    /** The median over the runs of CPU column {@code i}. */
    double cpuMedian(int i) {
      List<Double> v = new ArrayList<>();
      for (double[] c : cpu) {
        v.add(c[i]);
      }
      Collections.sort(v);
      int n = v.size();
      return n % 2 == 1 ? v.get(n / 2) : (v.get(n / 2 - 1) + v.get(n / 2)) / 2;
    }

    double median() {
      List<Double> s = new ArrayList<>(seconds);
      Collections.sort(s);
      int n = s.size();
      return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
    }

    double min() {
      return Collections.min(seconds);
    }
  }

  /** A ratio the report prints: {@code path} time over {@code baseline} time. */
  record Ratio(String path, String baseline, double target, String note) {}

  @Test
  void bench() throws Exception {
    int mem = Integer.getInteger("cryo.bench.mem", 1024);
    int fill = Integer.getInteger("cryo.bench.fill", 512);
    repeat = Integer.getInteger("cryo.bench.repeat", 3);
    assertThat(repeat).as("cryo.bench.repeat").isPositive();
    String[] modes = System.getProperty("cryo.bench.modes", "random,realistic").split(",");
    line("Cryo save/restore bench: guest %d MiB RAM, %d MiB filled; each path %d time(s),"
        + " median and min", mem, fill, repeat);
    for (String mode : modes) {
      Map<String, Row> rows = new LinkedHashMap<>();
      List<String> notes = new ArrayList<>();
      qemuBaselines(mode, mem, fill, rows);
      virshBaselines(mode, mem, fill, rows, notes);
      cryo(mode, mem, fill, rows);
      report(mode, rows, notes);
      Files.writeString(Path.of("target", "bench-save-restore.txt"), out.toString());
    }
    System.out.println(out);
  }

  private void add(Map<String, Row> rows, String path, double seconds, long imageBytes,
      long streamBytes) {
    Row r = rows.computeIfAbsent(path, k -> new Row());
    r.seconds.add(seconds);
    r.imageBytes = imageBytes;
    r.streamBytes = streamBytes;
  }

  // ---- raw QEMU, same argv as Cryo builds --------------------------------------------------

  private QemuSpec spec(String mode, int mem, int fill) throws Exception {
    HostCapabilities host = HostCapabilities.probe(QEMU);
    Path g = TestGuest.dir();
    return new QemuSpec("bench", UUID.randomUUID().toString(), mem * 1024L, 1,
        host.resolveMachine("pc"), host.kvmUsable() ? QemuSpec.Accelerator.KVM
        : QemuSpec.Accelerator.TCG, g.resolve("vmlinuz"), g.resolve("initramfs.img"),
        cmdline(mode, fill), List.of(), null, false, List.of(), List.of(), null,
        QemuSpec.Cpu.DEFAULT, true, QemuSpec.Lifecycle.DEFAULT, null, List.of(), List.of(), null);
  }

  private static String cmdline(String mode, int fill) {
    return "console=ttyS0 quiet no_timer_check cryo.fill=" + fill + " cryo.fillmode=" + mode;
  }

  private RunDir runDir(String what) throws IOException {
    return new RunDir(Files.createDirectories(temp.resolve(what + "-" + ++runDirs)));
  }

  private void qemuBaselines(String mode, int mem, int fill, Map<String, Row> rows)
      throws Exception {
    QemuSpec spec = spec(mode, mem, fill);
    RunDir run = runDir("raw-" + mode);
    Path rawFile = temp.resolve("raw-" + mode + ".mig");
    Path zstdFile = temp.resolve("raw-" + mode + ".mig.zst");
    Process p = new ProcessBuilder(QemuCommandLine.build(QEMU, spec, run,
        QemuCommandLine.Incoming.NONE)).redirectErrorStream(true)
        .redirectOutput(run.qemuLog().toFile()).start();
    try (QemuMonitor qmp = connect(run, p)) {
      qmp.cont();
      awaitSerial(run, "CRYO FILLED", Duration.ofMinutes(60));
      qmp.migrateSetParameters(new QemuMonitor.MigrationParameters(1L << 50));
      enableEvents(qmp);
      for (int i = 0; i < repeat; i++) {
        // QEMU migrates a guest only once it ran again after the previous migration.
        qmp.cont();
        qmp.stop();
        // Raw: QEMU writes the file itself (fd passed over QMP), then fsync as libvirt does.
        long t0 = System.nanoTime();
        try (FileOutputStream f = new FileOutputStream(rawFile.toFile())) {
          qmp.getfd("bench", f.getFD());
          migrate(qmp, "fd:bench");
          f.getFD().sync();
        }
        add(rows, "qemu save raw -> file", secs(t0), Files.size(rawFile), Files.size(rawFile));
        // zstd -1 as a pipe after QEMU: the baseline for a compressed save.
        qmp.cont();
        qmp.stop();
        t0 = System.nanoTime();
        migrate(qmp, "exec:zstd -1 -q -c > " + zstdFile);
        add(rows, "qemu save | zstd -1 -> file", secs(t0), Files.size(zstdFile),
            Files.size(rawFile));
      }
    } finally {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    long size = Files.size(rawFile);
    // Interleaved, so that load from other work on the host spreads over all four.
    for (int i = 0; i < repeat; i++) {
      add(rows, "qemu restore < file (stdin)", restoreRaw(spec, rawFile, false), size, size);
      add(rows, "qemu restore cat file | fd:0", restoreRaw(spec, rawFile, true), size, size);
      rows.get("qemu restore cat file | fd:0").cpu.add(lastCpu);
      add(rows, "qemu restore jvm copy -> stdin", restoreFed(spec, rawFile, false, false), size,
          size);
      add(rows, "qemu restore jvm copy -> socket", restoreFed(spec, rawFile, true, false), size,
          size);
      add(rows, "qemu restore jvm copy+sha256 -> socket", restoreFed(spec, rawFile, true, true),
          size, size);
      rows.get("qemu restore jvm copy+sha256 -> socket").cpu.add(lastCpu);
    }
  }

  /** Seconds from starting QEMU with the file (or cat's pipe) as stdin until it has loaded. */
  private double restoreRaw(QemuSpec spec, Path file, boolean viaCat) throws Exception {
    RunDir run = runDir("rr");
    List<String> argv = QemuCommandLine.build(QEMU, spec, run, QemuCommandLine.Incoming.STDIN);
    long t0 = System.nanoTime();
    List<Process> procs;
    if (viaCat) {
      procs = ProcessBuilder.startPipeline(List.of(
          new ProcessBuilder("cat", file.toString()),
          new ProcessBuilder(argv).redirectErrorStream(true)
              .redirectOutput(run.qemuLog().toFile())));
    } else {
      procs = List.of(new ProcessBuilder(argv).redirectInput(file.toFile())
          .redirectErrorStream(true).redirectOutput(run.qemuLog().toFile()).start());
    }
    Process qemu = procs.get(procs.size() - 1);
    try (QemuMonitor qmp = connect(run, qemu)) {
      awaitLoaded(qmp);
      double secs = secs(t0);
      lastCpu = new double[] {Double.NaN, Double.NaN, Cpu.seconds(qemu.pid())};
      return secs;
    } finally {
      for (Process p : procs) {
        p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * Seconds from starting QEMU until it has loaded the file, fed by this JVM with a plain copy
   * loop (1 MiB reads): into QEMU's stdin ({@code -incoming fd:0}), or into a Unix socket QEMU
   * listens on ({@code -incoming defer}, then {@code migrate-incoming unix:PATH}). The two ways a
   * server can feed a restore; the difference is QEMU's pipe vs socket reading. With {@code
   * hash}, a second thread also SHA-256s each MiB once QEMU has it, and the time includes the
   * digest: the work of a verified stream restore without gRPC. Sets {@link #lastCpu}.
   */
  private double restoreFed(QemuSpec spec, Path file, boolean socket, boolean hash)
      throws Exception {
    RunDir run = runDir(socket ? "sock" : "stdin");
    List<String> argv = QemuCommandLine.build(QEMU, spec, run, socket
        ? QemuCommandLine.Incoming.DEFER : QemuCommandLine.Incoming.STDIN);
    double selfBefore = Cpu.seconds(ProcessHandle.current().pid());
    long t0 = System.nanoTime();
    Process qemu = new ProcessBuilder(argv).redirectErrorStream(true)
        .redirectOutput(run.qemuLog().toFile()).start();
    java.util.concurrent.BlockingQueue<java.nio.ByteBuffer> toHash =
        new java.util.concurrent.ArrayBlockingQueue<>(4);
    CompletableFuture<byte[]> digest = !hash ? CompletableFuture.completedFuture(null)
        : CompletableFuture.supplyAsync(() -> {
          try {
            java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
            for (java.nio.ByteBuffer b; (b = toHash.take()).hasRemaining(); ) {
              sha.update(b);
            }
            return sha.digest();
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        });
    try (QemuMonitor qmp = connect(run, qemu)) {
      if (socket) {
        qemu.getOutputStream().close();
        Path sock = run.path().resolve("incoming.sock");
        qmp.migrateIncoming("unix:" + sock);
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(sock))) {
          copy(file, Channels.newOutputStream(ch), hash ? toHash : null);
        }
      } else {
        try (OutputStream stdin = qemu.getOutputStream()) {
          copy(file, stdin, hash ? toHash : null);
        }
      }
      toHash.put(java.nio.ByteBuffer.allocate(0));
      digest.get(10, TimeUnit.MINUTES);
      awaitLoaded(qmp);
      double secs = secs(t0);
      lastCpu = new double[] {Cpu.seconds(ProcessHandle.current().pid()) - selfBefore,
          Double.NaN, Cpu.seconds(qemu.pid())};
      return secs;
    } finally {
      toHash.offer(java.nio.ByteBuffer.allocate(0));
      qemu.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
  }

  /** Copies {@code file} to {@code to}; each read also goes to {@code toHash} unless it is null. */
  private static void copy(Path file, OutputStream to,
      java.util.concurrent.BlockingQueue<java.nio.ByteBuffer> toHash)
      throws IOException, InterruptedException {
    byte[] buf = new byte[COPY_BUFFER_BYTES];
    try (InputStream in = Files.newInputStream(file)) {
      for (int n; (n = in.readNBytes(buf, 0, buf.length)) > 0; ) {
        to.write(buf, 0, n);
        if (toHash != null) {
          // The hashing thread owns this array now; read into a fresh one.
          toHash.put(java.nio.ByteBuffer.wrap(buf, 0, n));
          buf = new byte[COPY_BUFFER_BYTES];
        }
      }
    }
  }

  private static void awaitLoaded(QemuMonitor qmp) throws Exception {
    while (true) {
      String status = qmp.queryStatus().status();
      if (!"inmigrate".equals(status)) {
        assertThat(status).as("QEMU state after loading").isIn("paused", "prelaunch");
        return;
      }
      Thread.sleep(10);
    }
  }

  private static QemuMonitor connect(RunDir run, Process p) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!Files.exists(run.qmpSocket())) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        throw new IOException("QEMU did not start: " + Files.readString(run.qemuLog()));
      }
      Thread.sleep(10);
    }
    return QemuMonitor.connect(run.qmpSocket(), Duration.ofSeconds(30), "bench");
  }

  private static void enableEvents(QemuMonitor qmp) throws Exception {
    qmp.migrateSetCapabilities(List.of(new QemuMonitor.MigrationCapability("events", true)));
  }

  private static void migrate(QemuMonitor qmp, String uri) throws Exception {
    CompletableFuture<QemuEvent.Migration> done = qmp.nextEvent(QemuEvent.Migration.class,
        e -> e.status().equals("completed") || e.status().equals("failed"));
    qmp.migrate(uri);
    QemuEvent.Migration e = qmp.await(done, Duration.ofMinutes(60)).orElseThrow();
    assertThat(e.status()).isEqualTo("completed");
  }

  private static void awaitSerial(RunDir run, String text, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < deadline) {
      if (Files.exists(run.serialLog())
          && Files.readString(run.serialLog(), StandardCharsets.ISO_8859_1).contains(text)) {
        return;
      }
      Thread.sleep(500);
    }
    throw new IOException("guest did not print " + text);
  }

  // ---- virsh save / restore of the same guest configuration ---------------------------------

  private void virshBaselines(String mode, int mem, int fill, Map<String, Row> rows,
      List<String> notes) throws Exception {
    if (!LibvirtHost.installed()) {
      notes.add("virsh baselines: not run (" + LibvirtHost.VIRSH + " is not installed)");
      return;
    }
    String name = "cryo-bench-" + mode;
    // Readable by libvirt's QEMU user: not under /root or the JUnit temp folder.
    Path dir = Files.createDirectories(Path.of("/var/tmp/cryo-bench-" + ProcessHandle.current()
        .pid() + "-" + mode));
    Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwxrwxrwx"));
    try (LibvirtHost libvirt = LibvirtHost.open(false)) {
      Map<String, String> conf = new LinkedHashMap<>();
      String reprobe = LibvirtHost.reprobeReason();
      if (reprobe != null) {
        conf.put("user", "\"root\"");
        conf.put("group", "\"root\"");
        notes.add("virsh: " + reprobe + " (seconds per restore on this host); libvirt's QEMU ran"
            + " as root for this bench so its capability cache stays valid");
        libvirt.configure(conf);
      }
      for (String f : List.of("vmlinuz", "initramfs.img")) {
        Files.copy(TestGuest.dir().resolve(f), dir.resolve(f));
      }
      Path sock = dir.resolve("serial.sock");
      Path xml = dir.resolve("domain.xml");
      Files.writeString(xml, virshXml(name, mem, cmdline(mode, fill), dir, sock));
      try {
        libvirt.virsh("define", xml.toString());
        libvirt.virsh("start", name);
        try (SerialSocket serial = new SerialSocket(sock)) {
          serial.await(GuestProbe.FILLED, 3600);
        }
        Path image = dir.resolve("virsh.save");
        long stream = virshRuns(libvirt, name, image, "raw", rows, -1);
        if (LibvirtHost.onPath("zstd")) {
          // Running domains survive libvirtd's restart; it reconnects to their QEMU.
          conf.put("save_image_format", "\"zstd\"");
          libvirt.configure(conf);
          try {
            virshRuns(libvirt, name, image, "zstd", rows, stream);
          } catch (AssertionError e) {
            if (!LibvirtHost.unknownSaveFormat(e)) {
              throw e;
            }
            notes.add("virsh zstd: not run (libvirt " + libvirt.daemonVersion()
                + " has no save_image_format \"zstd\")");
          }
        } else {
          notes.add("virsh zstd: not run (no zstd program for libvirt to run)");
        }
      } finally {
        libvirt.virshQuiet("destroy", name);
        libvirt.virshQuiet("undefine", name);
      }
    } finally {
      try (var files = Files.walk(dir)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  /**
   * Times {@code virsh save} (libvirt fsyncs the image) and {@code virsh restore} (returns once
   * the domain runs again) of a running domain, after one untimed round: libvirtd's first start
   * of a domain after its own restart loads QEMU's capabilities. Returns the raw stream size.
   */
  private long virshRuns(LibvirtHost libvirt, String name, Path image, String format,
      Map<String, Row> rows, long rawStreamBytes) throws Exception {
    libvirt.virsh("save", name, image.toString());
    libvirt.virsh("restore", image.toString());
    long stream = rawStreamBytes;
    for (int i = 0; i < repeat; i++) {
      long t0 = System.nanoTime();
      libvirt.virsh("save", name, image.toString());
      double save = secs(t0);
      long size = Files.size(image);
      stream = rawStreamBytes > 0 ? rawStreamBytes : size;
      add(rows, "virsh save " + format + " -> file", save, size, stream);
      t0 = System.nanoTime();
      libvirt.virsh("restore", image.toString());
      add(rows, "virsh restore " + format + " <- file", secs(t0), size, stream);
    }
    return stream;
  }

  /** The guest as libvirt runs it: as Cryo's, with a serial socket the bench can read. */
  private static String virshXml(String name, int mem, String cmdline, Path dir, Path serial)
      throws Exception {
    boolean kvm = HostCapabilities.probe(QEMU).kvmUsable();
    return """
        <domain type='%s'>
          <name>%s</name>
          <uuid>%s</uuid>
          <memory unit='MiB'>%d</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='x86_64' machine='pc'>hvm</type>
            <kernel>%s</kernel>
            <initrd>%s</initrd>
            <cmdline>%s</cmdline>
          </os>
          <features><acpi/></features>
          <devices>
            <serial type='unix'><source mode='bind' path='%s'/><target port='0'/></serial>
            <controller type='usb' model='none'/>
            <memballoon model='none'/>
          </devices>
        </domain>
        """.formatted(kvm ? "kvm" : "qemu", name, UUID.randomUUID(), mem,
        dir.resolve("vmlinuz"), dir.resolve("initramfs.img"), cmdline, serial);
  }

  // ---- Cryo --------------------------------------------------------------------------------

  private void cryo(String mode, int mem, int fill, Map<String, Row> rows) throws Exception {
    Path state = Files.createDirectories(temp.resolve("cryo-" + mode));
    try (CryoTarget cryo = CryoTarget.start(state)) {
      Domains domains = cryo.client().domains();
      Images images = cryo.client().images();
      // Warm-up, untimed: every path once on a small guest, so the server's and the client's
      // code is compiled before the timed runs.
      String warm = "bench-warmup-" + mode;
      domains.define(GuestProbe.xml(warm, 128, 32));
      domains.start(warm);
      GuestProbe.awaitBooted(domains, warm);
      cycle(cryo, images, warm, null);
      domains.destroy(warm);
      domains.undefine(warm, true);

      String name = "bench-" + mode;
      domains.define(GuestProbe.xml(name, mem, fill).replace("cryo.fill=" + fill,
          "cryo.fill=" + fill + " cryo.fillmode=" + mode));
      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      for (int i = 0; i < repeat; i++) {
        cycle(cryo, images, name, rows);
      }
      GuestProbe.assertCarriesOn(domains, name, GuestProbe.latest(domains, name,
          beat.checksum()));
      images.saveToServer(name, cryo.imagesDir().resolve("last.save").toString(),
          SaveOptions.defaults().after(AfterSave.STOP));
      domains.undefine(name, true);
    }
  }

  /** Every Cryo path once, raw then zstd; timed into {@code rows} unless it is null. */
  private void cycle(CryoTarget cryo, Images images, String name, Map<String, Row> rows)
      throws Exception {
    Cpu cpu = new Cpu(cryo.serverProcess());
    for (ImageCompression c : List.of(ImageCompression.RAW, ImageCompression.ZSTD)) {
      String tag = c.name().toLowerCase(Locale.ROOT);
      String file = cryo.imagesDir().resolve(name + "." + tag + ".save").toString();
      SaveOptions o = SaveOptions.defaults().compression(c).level(c == ImageCompression.ZSTD
          ? 1 : 0);
      Cpu.Step step = cpu.start();
      SaveSummary s = images.saveToServer(name, file, o);
      Cpu.Step save = step.end();
      step = cpu.start();
      images.restoreFromServer(file, RestoreOptions.defaults());
      Cpu.Step restore = step.end();
      Files.delete(Path.of(file));
      Path local = temp.resolve(name + "." + tag + ".client");
      step = cpu.start();
      SaveSummary st;
      try (OutputStream os = Files.newOutputStream(local)) {
        st = images.save(name, os, o);
      }
      Cpu.Step saveStream = step.end();
      step = cpu.start();
      try (var in = Files.newInputStream(local)) {
        images.restore(in, st.sha256(), st.payloadBytes(), RestoreOptions.defaults());
      }
      Cpu.Step restoreStream = step.end();
      Files.delete(local);
      if (rows != null) {
        add(rows, "cryo save " + tag + " -> server file", save, s.imageBytes(),
            s.migrationBytes());
        add(rows, "cryo restore " + tag + " <- server file", restore, s.imageBytes(),
            s.migrationBytes());
        add(rows, "cryo save " + tag + " -> client stream", saveStream, st.imageBytes(),
            st.migrationBytes());
        add(rows, "cryo restore " + tag + " <- client stream", restoreStream, st.imageBytes(),
            st.migrationBytes());
      }
    }
  }

  private void add(Map<String, Row> rows, String path, Cpu.Step step, long imageBytes,
      long streamBytes) {
    add(rows, path, step.seconds(), imageBytes, streamBytes);
    rows.get(path).cpu.add(step.cpu());
  }

  /**
   * CPU time, from {@code /proc}, of this JVM (the client), the server and the processes the
   * server started (QEMU): on a host with few cores it tells where a CPU-bound path's time goes.
   */
  static final class Cpu {
    private final ProcessHandle server;

    /** @param server null for a server this bench did not start: only the client is measured */
    Cpu(ProcessHandle server) {
      this.server = server;
    }

    /** One timed step: wall seconds and CPU seconds of client, server and QEMU. */
    final class Step {
      private final long t0 = System.nanoTime();
      private final Map<Long, Double> before = sample();
      private double seconds;
      private double[] cpu;

      Step end() {
        seconds = secs(t0);
        Map<Long, Double> after = sample();
        long self = ProcessHandle.current().pid();
        // A QEMU that ended within the step (a save stops its domain) took its time with it.
        double qemu = after.keySet().containsAll(before.keySet()) ? 0 : Double.NaN;
        for (Map.Entry<Long, Double> e : after.entrySet()) {
          if (e.getKey() != self && (server == null || e.getKey() != server.pid())) {
            qemu += e.getValue() - before.getOrDefault(e.getKey(), 0.0);
          }
        }
        cpu = new double[] {after.get(self) - before.get(self), server == null ? Double.NaN
            : after.getOrDefault(server.pid(), 0.0) - before.getOrDefault(server.pid(), 0.0),
            server == null ? Double.NaN : qemu};
        return this;
      }

      double seconds() {
        return seconds;
      }

      double[] cpu() {
        return cpu;
      }
    }

    Step start() {
      return new Step();
    }

    private Map<Long, Double> sample() {
      Map<Long, Double> m = new java.util.HashMap<>();
      m.put(ProcessHandle.current().pid(), seconds(ProcessHandle.current().pid()));
      if (server != null) {
        m.put(server.pid(), seconds(server.pid()));
        server.descendants().forEach(p -> m.put(p.pid(), seconds(p.pid())));
      }
      return m;
    }

    /** User plus system CPU seconds of a live process, all its threads; 0 once it is gone. */
    static double seconds(long pid) {
      try {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) / 100.0;
      } catch (IOException | RuntimeException e) {
        return 0;
      }
    }
  }

  // ---- report ------------------------------------------------------------------------------

  private void report(String mode, Map<String, Row> rows, List<String> notes) {
    line("");
    line("fill mode: %s", mode);
    line("%-38s %8s %8s %9s %10s", "path", "median s", "min s", "MB/s", "image MiB");
    for (Map.Entry<String, Row> e : rows.entrySet()) {
      Row r = e.getValue();
      line("%-38s %8.2f %8.2f %9.1f %10.1f", e.getKey(), r.median(), r.min(),
          r.streamBytes / 1e6 / r.median(), r.imageBytes / 1048576.0);
    }
    List<Ratio> ratios = List.of(
        new Ratio("cryo save raw -> server file", "virsh save raw -> file", 0.7, ""),
        new Ratio("cryo save raw -> server file", "qemu save raw -> file", 0, ""),
        new Ratio("cryo restore raw <- server file", "virsh restore raw <- file", 1.0, ""),
        new Ratio("cryo restore raw <- server file", "qemu restore < file (stdin)", 0, ""),
        new Ratio("cryo restore raw <- client stream", "qemu restore cat file | fd:0", 1.1, ""),
        new Ratio("cryo restore raw <- client stream", "qemu restore jvm copy+sha256 -> socket",
            0, "(the same work without gRPC: copy into QEMU plus the SHA-256)"),
        new Ratio("cryo save zstd -> server file", "qemu save | zstd -1 -> file", 1.0, ""),
        new Ratio("cryo save zstd -> server file", "virsh save zstd -> file", 0, ""),
        new Ratio("cryo restore zstd <- server file", "virsh restore zstd <- file", 0, ""),
        new Ratio("cryo save zstd -> client stream", "qemu save | zstd -1 -> file", 0, ""),
        new Ratio("cryo restore zstd <- client stream", "qemu restore cat file | fd:0", 0, ""),
        new Ratio("qemu restore jvm copy -> socket", "qemu restore jvm copy -> stdin", 0,
            "(stdin vs socket: below 1 the socket is faster)"));
    line("ratios, time / baseline time (median; min over min in brackets):");
    for (Ratio q : ratios) {
      Row a = rows.get(q.path());
      Row b = rows.get(q.baseline());
      if (a == null || b == null) {
        continue;
      }
      double m = a.median() / b.median();
      String target = q.target() == 0 ? q.note() : String.format(Locale.ROOT,
          "target <= %.1fx: %s", q.target(), m <= q.target() ? "met" : "MISSED");
      line("  %-34s / %-38s = %5.2fx (%5.2fx)  %s", q.path(), q.baseline(), m,
          a.min() / b.min(), target);
    }
    line("CPU seconds per run (median): this JVM (the client), the server, QEMU");
    for (Map.Entry<String, Row> e : rows.entrySet()) {
      Row r = e.getValue();
      if (!r.cpu.isEmpty()) {
        line("  %-36s %6s %6s %6s  (%.2f s wall)", e.getKey(), cpuText(r.cpuMedian(0)),
            cpuText(r.cpuMedian(1)), cpuText(r.cpuMedian(2)), r.median());
      }
    }
    for (String n : notes) {
      line("%s", n);
    }
  }

  private static String cpuText(double seconds) {
    return Double.isNaN(seconds) ? "-" : String.format(Locale.ROOT, "%.2f", seconds);
  }

  private void line(String format, Object... args) {
    out.append(String.format(Locale.ROOT, format, args)).append('\n');
  }

  private static double secs(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }
}
