package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonObject;
import dev.cryo.client.AfterSave;
import dev.cryo.client.Domains;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveSummary;
import dev.cryo.server.qemu.HostCapabilities;
import dev.cryo.server.qemu.QemuCommandLine;
import dev.cryo.server.qemu.QemuSpec;
import dev.cryo.server.qemu.QmpClient;
import dev.cryo.server.qemu.QmpEvent;
import dev.cryo.server.qemu.RunDir;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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
 * {@code bench/save-restore}: times Cryo's save and restore paths against raw QEMU on the same
 * guest in the same run, and prints a table with MB/s, image sizes and ratios. Enabled only with
 * {@code -Dcryo.bench=true}; sizes from {@code cryo.bench.mem} / {@code cryo.bench.fill} (MiB) and
 * fill modes from {@code cryo.bench.modes} (random,realistic).
 */
@EnabledIfSystemProperty(named = "cryo.bench", matches = "true")
@Timeout(14400)
class SaveRestoreBench {
  static final Path QEMU = Path.of("/usr/bin/qemu-system-x86_64");

  @TempDir Path temp;
  final StringBuilder out = new StringBuilder();

  record Row(String what, double seconds, long imageBytes, long streamBytes) {}

  @Test
  void bench() throws Exception {
    int mem = Integer.getInteger("cryo.bench.mem", 1024);
    int fill = Integer.getInteger("cryo.bench.fill", 512);
    String[] modes = System.getProperty("cryo.bench.modes", "random,realistic").split(",");
    line("Cryo save/restore bench: guest %d MiB RAM, %d MiB filled", mem, fill);
    for (String mode : modes) {
      Map<String, Row> rows = new LinkedHashMap<>();
      baselines(mode, mem, fill, rows);
      cryo(mode, mem, fill, rows);
      report(mode, rows);
    }
    Path file = Path.of("target", "bench-save-restore.txt");
    Files.writeString(file, out.toString());
    System.out.println(out);
  }

  // ---- raw QEMU, same argv as Cryo builds --------------------------------------------------

  private QemuSpec spec(String mode, int mem, int fill) throws Exception {
    HostCapabilities host = HostCapabilities.probe(QEMU);
    Path g = TestGuest.dir();
    return new QemuSpec("bench", UUID.randomUUID().toString(), mem * 1024L, 1,
        host.resolveMachine("pc"), host.kvmUsable() ? QemuSpec.Accelerator.KVM
        : QemuSpec.Accelerator.TCG, g.resolve("vmlinuz"), g.resolve("initramfs.img"),
        "console=ttyS0 quiet no_timer_check cryo.fill=" + fill + " cryo.fillmode=" + mode,
        List.of(), false, false);
  }

  private void baselines(String mode, int mem, int fill, Map<String, Row> rows)
      throws Exception {
    QemuSpec spec = spec(mode, mem, fill);
    RunDir run = new RunDir(Files.createDirectories(temp.resolve("raw-" + mode)));
    Path rawFile = temp.resolve("raw-" + mode + ".mig");
    Path zstdFile = temp.resolve("raw-" + mode + ".mig.zst");
    Process p = new ProcessBuilder(QemuCommandLine.build(QEMU, spec, run,
        QemuCommandLine.Incoming.NONE)).redirectErrorStream(true)
        .redirectOutput(run.qemuLog().toFile()).start();
    try (QmpClient qmp = connect(run, p)) {
      qmp.execute("cont");
      awaitSerial(run, "CRYO FILLED", Duration.ofMinutes(60));
      JsonObject params = new JsonObject();
      params.addProperty("max-bandwidth", 1L << 50);
      qmp.execute("migrate-set-parameters", params, Duration.ofSeconds(30));
      enableEvents(qmp);
      // Raw: QEMU writes the file itself (fd passed over QMP), then fsync as libvirt does.
      qmp.execute("stop");
      long t0 = System.nanoTime();
      try (FileOutputStream f = new FileOutputStream(rawFile.toFile())) {
        qmp.sendFileDescriptor("bench", f.getFD());
        migrate(qmp, "fd:bench");
        f.getFD().sync();
      }
      rows.put("qemu save raw -> file", new Row("", secs(t0), Files.size(rawFile),
          Files.size(rawFile)));
      // zstd -1 as a pipe after QEMU: the baseline for a compressed save. QEMU migrates a
      // guest only once it ran again after the previous migration.
      qmp.execute("cont");
      qmp.execute("stop");
      t0 = System.nanoTime();
      migrate(qmp, "exec:zstd -1 -q -c > " + zstdFile);
      rows.put("qemu save | zstd -1 -> file", new Row("", secs(t0), Files.size(zstdFile),
          Files.size(rawFile)));
    } finally {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    rows.put("qemu restore < file (stdin)", restoreRaw(spec, mode, rawFile, false));
    rows.put("qemu restore cat file | fd:0", restoreRaw(spec, mode, rawFile, true));
  }

  private Row restoreRaw(QemuSpec spec, String mode, Path file, boolean viaCat)
      throws Exception {
    RunDir run = new RunDir(Files.createDirectories(temp.resolve("rr-" + mode + viaCat)));
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
    try (QmpClient qmp = connect(run, qemu)) {
      while (true) {
        String status = qmp.execute("query-status").getAsJsonObject().get("status")
            .getAsString();
        if (!"inmigrate".equals(status)) {
          assertThat(status).as("QEMU state after loading").isIn("paused", "prelaunch");
          break;
        }
        Thread.sleep(10);
      }
      return new Row("", secs(t0), Files.size(file), Files.size(file));
    } finally {
      for (Process p : procs) {
        p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      }
    }
  }

  private static QmpClient connect(RunDir run, Process p) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (!Files.exists(run.qmpSocket())) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        throw new IOException("QEMU did not start: " + Files.readString(run.qemuLog()));
      }
      Thread.sleep(10);
    }
    return QmpClient.connect(run.qmpSocket(), Duration.ofSeconds(30));
  }

  private static void enableEvents(QmpClient qmp) throws Exception {
    JsonObject cap = new JsonObject();
    cap.addProperty("capability", "events");
    cap.addProperty("state", true);
    com.google.gson.JsonArray caps = new com.google.gson.JsonArray();
    caps.add(cap);
    JsonObject args = new JsonObject();
    args.add("capabilities", caps);
    qmp.execute("migrate-set-capabilities", args, Duration.ofSeconds(30));
  }

  private static void migrate(QmpClient qmp, String uri) throws Exception {
    CompletableFuture<QmpEvent> done = qmp.nextEvent("MIGRATION", e -> {
      String s = e.data().get("status").getAsString();
      return s.equals("completed") || s.equals("failed");
    });
    JsonObject args = new JsonObject();
    args.addProperty("uri", uri);
    qmp.execute("migrate", args, Duration.ofSeconds(30));
    QmpEvent e = done.get(60, TimeUnit.MINUTES);
    assertThat(e.data().get("status").getAsString()).isEqualTo("completed");
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

  // ---- Cryo --------------------------------------------------------------------------------

  private void cryo(String mode, int mem, int fill, Map<String, Row> rows) throws Exception {
    try (CryoTarget cryo = CryoTarget.start(Files.createDirectories(temp.resolve("cryo-" + mode)))) {
      Domains domains = cryo.client().domains();
      Images images = cryo.client().images();
      String name = "bench-" + mode;
      domains.define(GuestProbe.xml(name, mem, fill).replace("cryo.fill=" + fill,
          "cryo.fill=" + fill + " cryo.fillmode=" + mode));
      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      for (ImageCompression c : List.of(ImageCompression.RAW, ImageCompression.ZSTD)) {
        String tag = c.name().toLowerCase(Locale.ROOT);
        String file = cryo.imagesDir().resolve(name + "." + tag + ".save").toString();
        SaveOptions o = SaveOptions.defaults().compression(c).level(c == ImageCompression.ZSTD
            ? 1 : 0);
        long t0 = System.nanoTime();
        SaveSummary s = images.saveToServer(name, file, o);
        rows.put("cryo save " + tag + " -> server file", new Row("", secs(t0), s.imageBytes(),
            s.migrationBytes()));
        t0 = System.nanoTime();
        images.restoreFromServer(file, RestoreOptions.defaults());
        rows.put("cryo restore " + tag + " <- server file", new Row("", secs(t0),
            s.imageBytes(), s.migrationBytes()));
        Files.delete(Path.of(file));
        Path local = temp.resolve(name + "." + tag + ".client");
        t0 = System.nanoTime();
        SaveSummary st;
        try (OutputStream os = Files.newOutputStream(local)) {
          st = images.save(name, os, o);
        }
        rows.put("cryo save " + tag + " -> client stream", new Row("", secs(t0),
            st.imageBytes(), st.migrationBytes()));
        t0 = System.nanoTime();
        try (var in = Files.newInputStream(local)) {
          images.restore(in, st.sha256(), st.payloadBytes(), RestoreOptions.defaults());
        }
        rows.put("cryo restore " + tag + " <- client stream", new Row("", secs(t0),
            st.imageBytes(), st.migrationBytes()));
        Files.delete(local);
      }
      GuestProbe.assertCarriesOn(domains, name, GuestProbe.latest(domains, name,
          beat.checksum()));
      images.saveToServer(name, cryo.imagesDir().resolve("last.save").toString(),
          SaveOptions.defaults().after(AfterSave.STOP));
      domains.undefine(name, true);
    }
  }

  // ---- report ------------------------------------------------------------------------------

  private void report(String mode, Map<String, Row> rows) {
    line("");
    line("fill mode: %s", mode);
    line("%-36s %9s %10s %12s", "path", "seconds", "MB/s", "image MiB");
    for (Map.Entry<String, Row> e : rows.entrySet()) {
      Row r = e.getValue();
      line("%-36s %9.2f %10.1f %12.1f", e.getKey(), r.seconds(),
          r.streamBytes() / 1e6 / r.seconds(), r.imageBytes() / 1048576.0);
    }
    List<String[]> ratios = new ArrayList<>();
    ratios.add(new String[] {"cryo save raw -> server file", "qemu save raw -> file",
        "target <= 0.7x virsh save (virsh n/a: vs raw QEMU)"});
    ratios.add(new String[] {"cryo restore raw <- server file", "qemu restore < file (stdin)",
        "target <= 1.0x virsh restore (virsh n/a: vs raw QEMU)"});
    ratios.add(new String[] {"cryo restore raw <- client stream", "qemu restore cat file | fd:0",
        "target <= 1.1x"});
    ratios.add(new String[] {"cryo save zstd -> server file", "qemu save | zstd -1 -> file",
        "target <= 1.0x"});
    ratios.add(new String[] {"cryo save zstd -> client stream", "qemu save | zstd -1 -> file",
        ""});
    ratios.add(new String[] {"cryo restore zstd <- client stream",
        "qemu restore cat file | fd:0", ""});
    line("ratios (time / baseline time):");
    for (String[] r : ratios) {
      Row a = rows.get(r[0]);
      Row b = rows.get(r[1]);
      if (a != null && b != null) {
        line("  %-36s / %-30s = %5.2fx  %s", r[0], r[1], a.seconds() / b.seconds(), r[2]);
      }
    }
    line("virsh baselines: %s", Files.isExecutable(Path.of("/usr/bin/virsh"))
        ? "virsh is installed but this bench does not drive libvirtd yet"
        : "not run (virsh not installed)");
  }

  private void line(String format, Object... args) {
    out.append(String.format(Locale.ROOT, format, args)).append('\n');
  }

  private static double secs(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }
}
