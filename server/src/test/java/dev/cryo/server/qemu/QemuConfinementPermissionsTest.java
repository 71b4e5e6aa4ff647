package dev.cryo.server.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The pure parts of {@link QemuConfinement}: permission checks and qcow2 backing names. */
@Timeout(10)
class QemuConfinementPermissionsTest {
  @TempDir Path temp;

  @Test
  void permits_ownerThenGroupThenOther() {
    // 0711 root:root: others may traverse, not list.
    assertThat(QemuConfinement.permits(0711, 0, 0, 999, 995, 1)).isTrue();
    assertThat(QemuConfinement.permits(0711, 0, 0, 999, 995, 4)).isFalse();
    // 0700: closed to others.
    assertThat(QemuConfinement.permits(0700, 0, 0, 999, 995, 1)).isFalse();
    // 1770 root:qemu: the run folder, writable through the group.
    assertThat(QemuConfinement.permits(01770, 0, 995, 999, 995, 2)).isTrue();
    // Owner bits win even when they are narrower than other's.
    assertThat(QemuConfinement.permits(0047, 999, 0, 999, 995, 4)).isFalse();
    // 0600 access file: unreadable unless owned.
    assertThat(QemuConfinement.permits(0600, 0, 0, 999, 995, 4)).isFalse();
  }

  @Test
  void backingFile_relativeNameResolvesBesideImage() throws IOException {
    Path overlay = qcow2(temp.resolve("top.qcow2"), "base.qcow2");
    assertThat(QemuConfinement.backingFile(overlay)).contains(temp.resolve("base.qcow2"));
    Path abs = qcow2(temp.resolve("abs.qcow2"), "/srv/images/base.qcow2");
    assertThat(QemuConfinement.backingFile(abs)).contains(Path.of("/srv/images/base.qcow2"));
  }

  @Test
  void backingFile_noneForRawAndBaseImages() throws IOException {
    Path raw = Files.write(temp.resolve("disk.raw"), new byte[4096]);
    assertThat(QemuConfinement.backingFile(raw)).isEmpty();
    assertThat(QemuConfinement.backingFile(qcow2(temp.resolve("b.qcow2"), null))).isEmpty();
    assertThat(QemuConfinement.backingFile(qcow2(temp.resolve("j.qcow2"),
        "json:{\"driver\":\"nbd\"}"))).isEmpty();
  }

  /** A qcow2 header (version 3) naming {@code backing} right after it, as qemu-img writes. */
  private static Path qcow2(Path file, String backing) throws IOException {
    byte[] name = backing == null ? new byte[0] : backing.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(512 + name.length);
    b.putInt(0x514649fb).putInt(3).putLong(backing == null ? 0 : 512).putInt(name.length);
    b.position(512);
    b.put(name);
    return Files.write(file, b.array());
  }
}
