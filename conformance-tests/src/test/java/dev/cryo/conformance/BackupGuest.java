package dev.cryo.conformance;

import dev.cryo.client.Console;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/** Helpers for the checkpoint and backup tests: extra disks, guest writes, qemu-img. */
final class BackupGuest {
  static final Duration BOOT = Duration.ofSeconds(180);
  static final Pattern COUNTER = Pattern.compile("COUNTER (\\d+) boot=(\\S+)");
  static final long CLUSTER = 64 * 1024;

  private BackupGuest() {}

  /** Test-guest XML with {@code vda} and, if {@code vdb} is not null, a second disk. */
  static String xml(String name, Path vda, String vdaFormat, Path vdb, String vdbFormat)
      throws IOException, InterruptedException {
    String xml = TestGuest.xml(name, 128, 0, vda, vdaFormat);
    if (vdb == null) {
      return xml;
    }
    String second = """
            <disk type='file' device='disk'>
              <driver name='qemu' type='%s'/>
              <source file='%s'/>
              <target dev='vdb' bus='virtio'/>
            </disk>
        """.formatted(vdbFormat, vdb);
    return xml.replace("    <serial type='pty'>", second + "    <serial type='pty'>");
  }

  /** Has the guest write {@code pattern} at byte {@code offset} of {@code dev} and waits. */
  static void write(Console console, String dev, long offset, String pattern) {
    console.skipReceived();
    console.sendLine("write " + dev + " " + offset + " " + pattern);
    console.awaitLine(Pattern.compile("WROTE " + dev + " " + offset + " " + pattern.length()
        + "|ERR .*"), Duration.ofSeconds(60));
  }

  /** Runs qemu-img with {@code args}; returns the exit code. */
  static int qemuImg(String... args) throws IOException, InterruptedException {
    List<String> argv = new ArrayList<>(List.of("qemu-img"));
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(120, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new IOException("qemu-img " + args[0] + " hung");
    }
    if (p.exitValue() > 1) {
      throw new IOException("qemu-img " + String.join(" ", args) + " failed: " + out);
    }
    return p.exitValue();
  }

  /** Runs qemu-img and returns its output. */
  static String qemuImgOutput(String... args) throws IOException, InterruptedException {
    List<String> argv = new ArrayList<>(List.of("qemu-img"));
    argv.addAll(List.of(args));
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(120, TimeUnit.SECONDS);
    return out;
  }

  /** Whether the raw file and the (possibly in-use) qcow2 image hold the same bytes. */
  static boolean sameContent(Path raw, Path qcow2) throws IOException, InterruptedException {
    return qemuImg("compare", "-U", "-f", "raw", "-F", "qcow2", raw.toString(),
        qcow2.toString()) == 0;
  }

  /** The cluster starts a write of {@code len} bytes at {@code offset} touches. */
  static List<Long> clusters(long offset, int len) {
    List<Long> out = new ArrayList<>();
    for (long c = offset / CLUSTER * CLUSTER; c < offset + len; c += CLUSTER) {
      out.add(c);
    }
    return out;
  }
}
