package dev.cryo.conformance;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * The test guest from {@code guest/build-guest.sh}: a Debian kernel and a busybox initramfs that
 * prints {@code COUNTER n boot=ID} every second and answers commands on its serial port. Built
 * once per machine into {@code cryo.guest.dir}; this class builds it if it is missing.
 */
final class TestGuest {
  private static Path dir;

  private TestGuest() {}

  /** The folder with {@code vmlinuz} and {@code initramfs.img}, built on first use. */
  static synchronized Path dir() throws IOException, InterruptedException {
    if (dir != null) {
      return dir;
    }
    Path root = Path.of(System.getProperty("cryo.repo.root", "..")).toAbsolutePath();
    Path out = Path.of(System.getProperty("cryo.guest.dir",
        System.getProperty("user.home") + "/.cache/cryo/guest"));
    Process p = new ProcessBuilder(List.of("bash", root.resolve("guest/build-guest.sh").toString(),
        out.toString())).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(15, TimeUnit.MINUTES) || p.exitValue() != 0) {
      throw new IOException("guest/build-guest.sh failed:\n" + output);
    }
    dir = out;
    return dir;
  }

  /**
   * Domain XML for a test guest. The kernel gets {@code no_timer_check}: under TCG on a loaded
   * host its IO-APIC timer check can hang the boot for good ("MP-BIOS bug: 8254 timer not
   * connected").
   *
   * @param fillMib MiB of guest RAM the guest fills with pseudo-random data after boot
   * @param disk a disk image attached as vda, or null
   * @param diskFormat "qcow2" or "raw"
   */
  static String xml(String name, int memoryMib, int fillMib, Path disk, String diskFormat)
      throws IOException, InterruptedException {
    return xml(name, memoryMib, fillMib, disk, diskFormat, "");
  }

  /** {@link #xml(String, int, int, Path, String)} with more {@code <devices>}, e.g. interfaces. */
  static String xml(String name, int memoryMib, int fillMib, Path disk, String diskFormat,
      String devices) throws IOException, InterruptedException {
    Path d = dir();
    String diskXml = disk == null ? "" : """
            <disk type='file' device='disk'>
              <driver name='qemu' type='%s'/>
              <source file='%s'/>
              <target dev='vda' bus='virtio'/>
            </disk>
        """.formatted(diskFormat, disk);
    return """
        <domain type='kvm'>
          <name>%s</name>
          <uuid>%s</uuid>
          <memory unit='MiB'>%d</memory>
          <vcpu>1</vcpu>
          <os>
            <type arch='x86_64' machine='pc'>hvm</type>
            <kernel>%s</kernel>
            <initrd>%s</initrd>
            <cmdline>console=ttyS0 quiet no_timer_check cryo.fill=%d</cmdline>
          </os>
          <devices>
        %s    <serial type='pty'><target port='0'/></serial>
            <controller type='usb' model='none'/>
            <memballoon model='none'/>
          </devices>
        </domain>
        """.formatted(name, UUID.randomUUID(), memoryMib, d.resolve("vmlinuz"),
        d.resolve("initramfs.img"), fillMib, diskXml + devices);
  }

  /** Creates a qcow2 image with {@code qemu-img}. */
  static Path createQcow2(Path path, String size) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(List.of("qemu-img", "create", "-q", "-f", "qcow2",
        path.toString(), size)).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      throw new IOException("qemu-img create failed: " + out);
    }
    return path;
  }

  /** Reads {@code len} bytes at {@code offset} of a raw image file. */
  static byte[] readRaw(Path image, long offset, int len) throws IOException {
    try (var ch = Files.newByteChannel(image)) {
      ch.position(offset);
      java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(len);
      while (buf.hasRemaining() && ch.read(buf) > 0) {
        // Keep reading.
      }
      return buf.array();
    }
  }
}
