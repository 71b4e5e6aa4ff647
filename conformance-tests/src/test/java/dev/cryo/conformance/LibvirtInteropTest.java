package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.DomainState;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Images move between Cryo and libvirt: a {@code virsh save} of the test guest restores through
 * Cryo and the guest carries on; Cryo's save of it restores through {@code virsh restore}.
 * Installs libvirt from Debian packages if it is missing and starts {@code libvirtd} by hand.
 * Runs only with {@code -Dcryo.libvirt=true} (it changes the host: packages, a daemon).
 */
@Timeout(1200)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@org.junit.jupiter.api.condition.EnabledIfSystemProperty(named = "cryo.libvirt", matches = "true")
class LibvirtInteropTest {
  static final String NAME = "interop";

  @TempDir static Path temp;
  /** Readable by libvirt's QEMU user: not under /root or the JUnit temp folder. */
  static Path shared;
  static CryoTarget cryo;
  static Images images;
  static String uuid = UUID.randomUUID().toString();
  static GuestProbe.Beat beat;

  @BeforeAll
  static void setUp() throws Exception {
    if (!Files.isExecutable(Path.of("/usr/bin/virsh"))) {
      run(List.of("apt-get", "install", "-y", "--no-install-recommends",
          "libvirt-daemon-system", "libvirt-clients"), 900);
    }
    // No systemd here: start the daemons by hand (virtlogd keeps QEMU's logs for libvirtd).
    if (!Files.exists(Path.of("/run/libvirt/virtlogd-sock"))) {
      run(List.of("/usr/sbin/virtlogd", "--daemon"), 60);
    }
    if (!Files.exists(Path.of("/run/libvirt/libvirt-sock"))) {
      run(List.of("/usr/sbin/libvirtd", "--daemon"), 60);
    }
    shared = Files.createDirectories(Path.of("/var/tmp/cryo-interop-" + ProcessHandle.current()
        .pid()));
    Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rwxrwxrwx"));
    for (String f : List.of("vmlinuz", "initramfs.img")) {
      Files.copy(TestGuest.dir().resolve(f), shared.resolve(f));
    }
    cryo = CryoTarget.start(temp, List.of("--image-root", shared.toString()));
    images = cryo.client().images();
  }

  @AfterAll
  static void tearDown() throws Exception {
    virshQuiet("destroy", NAME);
    virshQuiet("undefine", NAME);
    try {
      LifecycleCleanup.destroyAndUndefine(cryo.client().domains(), NAME);
      cryo.close();
    } finally {
      try (var files = Files.walk(shared)) {
        files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    }
  }

  static String xml(Path serialSocket) {
    return """
        <domain type='qemu'>
          <name>%s</name>
          <uuid>%s</uuid>
          <memory unit='MiB'>128</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='x86_64' machine='pc'>hvm</type>
            <kernel>%s</kernel>
            <initrd>%s</initrd>
            <cmdline>console=ttyS0 quiet no_timer_check cryo.fill=8</cmdline>
          </os>
          <features><acpi/></features>
          <devices>
            <serial type='unix'><source mode='bind' path='%s'/><target port='0'/></serial>
            <controller type='usb' model='none'/>
            <memballoon model='none'/>
          </devices>
        </domain>
        """.formatted(NAME, uuid, shared.resolve("vmlinuz"), shared.resolve("initramfs.img"),
        serialSocket);
  }

  @Test
  @Order(1)
  void virshSave_restoresThroughCryo() throws Exception {
    Path sock = shared.resolve("serial-1.sock");
    Path xml = shared.resolve("interop.xml");
    Files.writeString(xml, xml(sock));
    virsh("define", xml.toString());
    virsh("start", NAME);
    try (SerialSocket serial = new SerialSocket(sock)) {
      serial.await(Pattern.compile("CRYO FILLED"), 300);
      Matcher beat1 = serial.await(GuestProbe.COUNTER, 60);
      serial.send("checksum");
      Matcher sum = serial.await(GuestProbe.CHECKSUM, 60);
      Path image = shared.resolve("virsh.save");
      Matcher last = serial.await(GuestProbe.COUNTER, 60);
      virsh("save", NAME, image.toString());
      beat = new GuestProbe.Beat(Long.parseLong(last.group(1)), beat1.group(2), sum.group(1));
    }
    // libvirt's XML has a Unix-socket serial, which Cryo does not model: replace it (dxml).
    String cryoXml = xml(sock).replaceAll("<serial type='unix'>.*</serial>",
        "<serial type='pty'><target port='0'/></serial>");
    Restored r = images.restoreFromServer(shared.resolve("virsh.save").toString(),
        RestoreOptions.defaults().replacementXml(cryoXml));
    assertThat(r.verified()).isFalse();
    assertThat(r.warnings()).anyMatch(w -> w.contains("no SHA-256"));
    assertThat(r.domain().state()).isEqualTo(DomainState.RUNNING);
    beat = GuestProbe.assertCarriesOn(cryo.client().domains(), NAME, beat);
  }

  @Test
  @Order(2)
  void cryoSave_restoresThroughVirsh() throws Exception {
    Path image = shared.resolve("cryo.save");
    beat = GuestProbe.latest(cryo.client().domains(), NAME, beat.checksum());
    images.saveToServer(NAME, image.toString(), SaveOptions.defaults());
    Files.setPosixFilePermissions(image, PosixFilePermissions.fromString("rw-r--r--"));
    Path sock = shared.resolve("serial-2.sock");
    Path dxml = shared.resolve("interop-2.xml");
    Files.writeString(dxml, xml(sock));
    // Started paused so the serial socket is connected before the guest prints again.
    virsh("restore", image.toString(), "--xml", dxml.toString(), "--paused");
    try (SerialSocket serial = new SerialSocket(sock)) {
      virsh("resume", NAME);
      Matcher next = serial.await(GuestProbe.COUNTER, 120);
      assertThat(next.group(2)).as("same boot under libvirt").isEqualTo(beat.boot());
      assertThat(Long.parseLong(next.group(1))).isBetween(beat.counter() + 1,
          beat.counter() + 3);
      serial.send("checksum");
      assertThat(serial.await(GuestProbe.CHECKSUM, 60).group(1)).isEqualTo(beat.checksum());
    }
  }

  /** The guest's serial port under libvirt, as a Unix socket QEMU listens on. */
  static final class SerialSocket implements AutoCloseable {
    private final java.nio.channels.SocketChannel ch;
    private final java.util.concurrent.BlockingQueue<String> lines =
        new java.util.concurrent.LinkedBlockingQueue<>();
    private final Thread reader;

    SerialSocket(Path path) throws IOException {
      ch = java.nio.channels.SocketChannel.open(java.net.UnixDomainSocketAddress.of(path));
      reader = new Thread(() -> {
        StringBuilder line = new StringBuilder();
        java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(4096);
        try {
          while (ch.read(buf) >= 0) {
            buf.flip();
            while (buf.hasRemaining()) {
              char c = (char) (buf.get() & 0xff);
              if (c == '\n') {
                lines.add(line.toString());
                line.setLength(0);
              } else if (c != '\r') {
                line.append(c);
              }
            }
            buf.clear();
          }
        } catch (IOException e) {
          // Closed.
        }
      }, "serial-" + path.getFileName());
      reader.setDaemon(true);
      reader.start();
    }

    void send(String line) throws IOException {
      java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap((line + "\n")
          .getBytes(StandardCharsets.US_ASCII));
      while (b.hasRemaining()) {
        ch.write(b);
      }
    }

    Matcher await(Pattern p, int seconds) throws InterruptedException {
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
      while (true) {
        long left = deadline - System.nanoTime();
        String line = left <= 0 ? null : lines.poll(left, TimeUnit.NANOSECONDS);
        if (line == null) {
          throw new AssertionError("no serial line matching " + p + " within " + seconds + " s");
        }
        Matcher m = p.matcher(line);
        if (m.find()) {
          return m;
        }
      }
    }

    @Override
    public void close() throws IOException {
      ch.close();
    }
  }

  // ---- helpers -------------------------------------------------------------------------------

  static String virsh(String... args) throws Exception {
    List<String> argv = new ArrayList<>(List.of("virsh", "-c", "qemu:///system"));
    argv.addAll(List.of(args));
    return run(argv, 300);
  }

  static void virshQuiet(String... args) {
    try {
      virsh(args);
    } catch (Exception | AssertionError e) {
      // Cleanup.
    }
  }

  static String run(List<String> argv, int seconds) throws Exception {
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(seconds, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new AssertionError(String.join(" ", argv) + " failed:\n" + out);
    }
    return out;
  }
}
