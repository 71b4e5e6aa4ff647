package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.Checkpoint;
import dev.cryo.client.Checkpoints;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.DomainState;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The checkpoint tree on a real guest: create on a running domain (QMP transaction) and on a
 * stopped one (qemu-img bitmap), list/parent/children/current, sizes from QEMU's bitmaps,
 * survival of a server kill -9 and a QEMU restart, delete modes with bitmap merging, and redefine
 * with bitmap validation.
 */
@Timeout(600)
class CheckpointTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static String name;
  static Path disk;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    name = "cp-" + System.nanoTime();
    disk = TestGuest.createQcow2(temp.resolve("data.qcow2"), "32M");
    cryo.client().domains().define(BackupGuest.xml(name, disk, "qcow2", null, null));
  }

  @AfterAll
  static void stopServer() throws Exception {
    try {
      cryo.client().domains().destroy(name);
    } catch (CryoException e) {
      // Already off.
    }
    cryo.close();
  }

  static Checkpoints cps() {
    return cryo.client().checkpoints();
  }

  static List<String> names(List<Checkpoint> list) {
    return list.stream().map(Checkpoint::name).toList();
  }

  @LocalServer("kills and restarts the server")
  @Test
  void checkpoints_treeSizesPersistenceDeleteAndRedefine() throws Exception {
    cryo.client().domains().start(name);
    try (Console console = cryo.client().domains().console(name)) {
      console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT);

      Checkpoint c1 = cps().create(name,
          "<domaincheckpoint><name>c1</name><description>first</description></domaincheckpoint>");
      assertThat(c1.parent()).isNull();
      assertThat(c1.description()).isEqualTo("first");
      assertThat(c1.disks()).containsExactly(new Checkpoint.Disk("vda", true, "c1", 0));
      BackupGuest.write(console, "vda", 100, "first-write");
      cps().create(name, "<domaincheckpoint><name>c2</name></domaincheckpoint>");
      cps().create(name, "<domaincheckpoint><name>c3</name></domaincheckpoint>");
    }

    assertThat(names(cps().list(name))).containsExactly("c1", "c2", "c3");
    assertThat(names(cps().list(name, new Checkpoints.Filter(true, false, false, null))))
        .containsExactly("c1");
    assertThat(names(cps().list(name, new Checkpoints.Filter(false, true, false, null))))
        .containsExactly("c3");
    assertThat(names(cps().list(name, new Checkpoints.Filter(false, false, false, "c1"))))
        .containsExactly("c2", "c3");
    assertThat(names(cps().children(name, "c1"))).containsExactly("c2");
    assertThat(cps().parent(name, "c3").name()).isEqualTo("c2");
    assertThat(cps().current(name).name()).isEqualTo("c3");
    assertThatThrownBy(() -> cps().parent(name, "c1"))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.NOT_FOUND);
    assertThat(cps().getWithSize(name, "c1").sizeBytes()).isEqualTo(BackupGuest.CLUSTER);
    assertThat(cps().getWithSize(name, "c2").sizeBytes()).isZero();
    String c3Xml = cps().xml(name, "c3", false);
    assertThat(c3Xml).contains("<parent>", "<name>c2</name>", "<domain type=");
    assertThat(cps().xml(name, "c3", true)).doesNotContain("<domain type=");

    // The server dies; a new one finds the same tree and the same bitmaps.
    cryo.killAndRestart();
    assertThat(names(cps().list(name))).containsExactly("c1", "c2", "c3");
    assertThat(cps().current(name).name()).isEqualTo("c3");
    assertThat(cps().getWithSize(name, "c1").sizeBytes()).isEqualTo(BackupGuest.CLUSTER);

    // Stopped domain: qemu-img does the bitmap work, and the bitmaps are in the image.
    assertThat(cryo.client().domains().shutdown(name, Duration.ofSeconds(90)).state())
        .isEqualTo(DomainState.SHUTOFF);
    assertThat(BackupGuest.qemuImgOutput("info", disk.toString()))
        .contains("name: c1", "name: c2", "name: c3");
    Checkpoint c4 = cps().create(name, "<domaincheckpoint><name>c4</name></domaincheckpoint>");
    assertThat(c4.parent()).isEqualTo("c3");
    assertThat(BackupGuest.qemuImgOutput("info", disk.toString())).contains("name: c4");
    assertThatThrownBy(() -> cps().getWithSize(name, "c4"))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
    assertThat(cps().delete(name, "c4")).containsExactly("c4");
    assertThat(BackupGuest.qemuImgOutput("info", disk.toString())).doesNotContain("name: c4");

    // QEMU again: the persistent bitmaps came back with their bits.
    cryo.client().domains().start(name);
    try (Console console = cryo.client().domains().console(name)) {
      console.awaitLine(BackupGuest.COUNTER, BackupGuest.BOOT);
      assertThat(cps().getWithSize(name, "c1").sizeBytes()).isEqualTo(BackupGuest.CLUSTER);
      BackupGuest.write(console, "vda", 2L << 20, "second-write");
    }
    assertThat(cps().getWithSize(name, "c3").sizeBytes()).isEqualTo(BackupGuest.CLUSTER);
    assertThat(cps().getWithSize(name, "c1").sizeBytes()).isEqualTo(2 * BackupGuest.CLUSTER);

    // Metadata only: the bitmap stays, so a redefine from the saved XML brings c3 back.
    assertThat(cps().delete(name, "c3", Checkpoints.DeleteMode.ONE, true))
        .containsExactly("c3");
    assertThat(names(cps().list(name))).containsExactly("c1", "c2");
    Checkpoint back = cps().redefine(name, c3Xml);
    assertThat(back.parent()).isEqualTo("c2");
    assertThat(names(cps().list(name))).containsExactly("c1", "c2", "c3");

    // With children: c3 then c2, each merged into its parent; c1 still sees both writes.
    assertThat(cps().delete(name, "c2", Checkpoints.DeleteMode.WITH_CHILDREN, false))
        .containsExactly("c3", "c2");
    assertThat(names(cps().list(name))).containsExactly("c1");
    assertThat(cps().current(name).name()).isEqualTo("c1");
    assertThat(cps().getWithSize(name, "c1").sizeBytes()).isEqualTo(2 * BackupGuest.CLUSTER);

    // The bitmap of c3 is gone now: redefining it is refused and changes nothing.
    assertThatThrownBy(() -> cps().redefine(name, c3Xml.replace("<parent>\n    <name>c2</name>"
        + "\n  </parent>\n", "")))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
    assertThat(names(cps().list(name))).containsExactly("c1");
  }
}
