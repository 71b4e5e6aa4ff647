package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.Console;
import dev.cryo.client.Domains;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A {@code <disk type='block'>} on a real block device (a loop device over a file, made with
 * {@code losetup}, so the test needs root as CI has), with libvirt's driver options: the guest
 * writes to it, the bytes are on the device, and they are still there after a save and restore.
 */
@Timeout(600)
@LocalServer("makes a loop device on this host")
class BlockDiskTest {
  @TempDir static Path temp;
  static Path backing;
  static String loop;
  static CryoTarget cryo;

  @BeforeAll
  static void setUp() throws Exception {
    TestGuest.dir();
    backing = temp.resolve("block.raw");
    try (var f = new java.io.RandomAccessFile(backing.toFile(), "rw")) {
      f.setLength(16 << 20);
    }
    loop = run(List.of("losetup", "--find", "--show", backing.toString())).strip();
    assertThat(loop).startsWith("/dev/loop");
    cryo = CryoTarget.start(Files.createDirectories(temp.resolve("state")),
        List.of("--listen", "127.0.0.1:0", "--image-root", "/dev"));
  }

  @AfterAll
  static void tearDown() throws Exception {
    try {
      if (cryo != null) {
        cryo.close();
      }
    } finally {
      if (loop != null) {
        run(List.of("losetup", "--detach", loop));
      }
    }
  }

  @Test
  void blockDisk_guestWritesReachTheDeviceAndSurviveSaveRestore() throws Exception {
    String name = "blk-guest";
    Domains domains = cryo.client().domains();
    String disk = """
            <disk type='block' device='disk'>
              <driver name='qemu' type='raw' cache='none' io='native' discard='unmap'/>
              <source dev='%s'/>
              <target dev='vda' bus='virtio'/>
              <serial>cryo-blk-1</serial>
            </disk>
        """.formatted(loop);
    try {
      domains.define(TestGuest.xml(name, 128, 8, null, null, disk));
      assertThat(domains.xml(name)).contains("<source dev=\"" + loop + "\"/>")
          .contains("cache=\"none\"").contains("<serial>cryo-blk-1</serial>");
      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      try (Console c = domains.console(name)) {
        c.sendLine("write vda 8192 BLOCK-BYTES-1");
        c.awaitLine(Pattern.compile("^WROTE vda 8192 13$"), GuestProbe.LINE);
      }
      assertThat(new String(TestGuest.readRaw(backing, 8192, 13), StandardCharsets.US_ASCII))
          .as("the guest's write went through the loop device to its file")
          .isEqualTo("BLOCK-BYTES-1");

      beat = GuestProbe.latest(domains, name, beat.checksum());
      String image = cryo.imagesDir().resolve("blk.save").toString();
      cryo.client().images().saveToServer(name, image, SaveOptions.defaults());
      Restored r = cryo.client().images().restoreFromServer(image, RestoreOptions.defaults());
      assertThat(r.verified()).isTrue();
      GuestProbe.assertCarriesOn(domains, name, beat);
      try (Console c = domains.console(name)) {
        c.skipReceived();
        c.sendLine("read vda 8192 13");
        c.awaitLine(Pattern.compile("^READ vda 8192 BLOCK-BYTES-1$"), GuestProbe.LINE);
      }
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  private static String run(List<String> argv) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(argv).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    assertThat(p.exitValue()).as("%s: %s", argv, out).isZero();
    return out;
  }
}
