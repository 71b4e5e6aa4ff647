package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.BackupOptions;
import dev.cryo.client.Checkpoint;
import dev.cryo.client.Checkpoints;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Bad input to the checkpoint and backup services on a stopped domain with a qcow2 disk (vda) and
 * a raw one (vdb): each gets its precise code, and neither the tree, nor the images' bitmaps, nor
 * the state folder changes.
 */
@Timeout(300)
@LocalServer("compares the server's state folder before and after each refused call")
class CheckpointErrorsTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static String name;
  static Path qcow2;
  static Path raw;

  @BeforeAll
  static void define() throws Exception {
    cryo = CryoTarget.start(temp);
    name = "cperr-" + System.nanoTime();
    qcow2 = TestGuest.createQcow2(temp.resolve("a.qcow2"), "16M");
    raw = temp.resolve("b.raw");
    Files.write(raw, new byte[1 << 20]);
    cryo.client().domains().define(BackupGuest.xml(name, qcow2, "qcow2", raw, "raw"));
    cryo.client().checkpoints().create(name, "<domaincheckpoint><name>base</name>"
        + "</domaincheckpoint>");
  }

  @AfterAll
  static void stop() throws Exception {
    cryo.close();
  }

  static Checkpoints cps() {
    return cryo.client().checkpoints();
  }

  static Stream<Object[]> badCreates() {
    return Stream.of(
        new Object[] {"<domaincheckpoint><name>base</name></domaincheckpoint>",
            ErrorCode.ALREADY_EXISTS, "already has a checkpoint named 'base'"},
        new Object[] {"<domaincheckpoint><name>x</name><disks><disk name='vdb'/></disks>"
            + "</domaincheckpoint>", ErrorCode.INVALID_ARGUMENT, "qcow2"},
        new Object[] {"<domaincheckpoint><name>/etc/passwd</name></domaincheckpoint>",
            ErrorCode.INVALID_ARGUMENT, "'/'"},
        new Object[] {"<domaincheckpoint><name>..</name></domaincheckpoint>",
            ErrorCode.INVALID_ARGUMENT, "dot"},
        new Object[] {"<domaincheckpoint><name>a&#0;b</name></domaincheckpoint>",
            ErrorCode.INVALID_ARGUMENT, "malformed"},
        new Object[] {"<domaincheckpoint><name>a\tb</name></domaincheckpoint>",
            ErrorCode.INVALID_ARGUMENT, "control"},
        new Object[] {"<domaincheckpoint><name>" + "n".repeat(300) + "</name>"
            + "</domaincheckpoint>", ErrorCode.INVALID_ARGUMENT, "300 characters"},
        new Object[] {"<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>"
            + "<domaincheckpoint><name>&e;</name></domaincheckpoint>",
            ErrorCode.INVALID_ARGUMENT, "DTD"},
        new Object[] {"<domaincheckpoint><disks><disk name='vdz'/></disks></domaincheckpoint>",
            ErrorCode.INVALID_ARGUMENT, "vdz"},
        new Object[] {"<domain/>", ErrorCode.INVALID_ARGUMENT, "domaincheckpoint"},
        new Object[] {"<domaincheckpoint><disks><disk name='vda' checkpoint='no'/></disks>"
            + "</domaincheckpoint>", ErrorCode.INVALID_ARGUMENT, "no disk"});
  }

  @ParameterizedTest
  @MethodSource("badCreates")
  void create_badInput_preciseCodeNothingChanged(String xml, ErrorCode code, String message)
      throws Exception {
    List<String> before = state();
    String bitmapsBefore = BackupGuest.qemuImgOutput("info", "-U", qcow2.toString());

    assertThatThrownBy(() -> cps().create(name, xml))
        .isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isEqualTo(code);
          assertThat(e.getMessage()).contains(message);
        });

    assertThat(state()).isEqualTo(before);
    assertThat(BackupGuest.qemuImgOutput("info", "-U", qcow2.toString()))
        .isEqualTo(bitmapsBefore);
  }

  @Test
  void get_unknownCheckpoint_notFound() {
    assertThatThrownBy(() -> cps().get(name, "nope"))
        .isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND);
          assertThat(e.getMessage()).contains("nope");
        });
    assertThatThrownBy(() -> cps().delete(name, "nope"))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.NOT_FOUND);
    assertThatThrownBy(() -> cps().list("no-such-domain"))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.NOT_FOUND);
  }

  @Test
  void backup_sinceUnknownCheckpoint_notFound() throws Exception {
    List<String> before = state();
    assertThatThrownBy(() -> cryo.client().backups().streamToRawFiles(name,
        BackupOptions.incremental("deleted-long-ago", null), Map.of("vda", temp.resolve("x"))))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.NOT_FOUND);
    assertThatThrownBy(() -> cryo.client().backups().startPush(name, BackupOptions.full(),
        Map.of("vda", temp.resolve("stopped.qcow2"))))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
    assertThat(temp.resolve("stopped.qcow2")).doesNotExist();
    assertThatThrownBy(() -> cryo.client().backups().startPush(name, BackupOptions.full(),
        Map.of("vda", Path.of("relative.qcow2"))))
        .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.INVALID_ARGUMENT);
    for (Path outside : List.of(Path.of("/etc/cryo-backup.qcow2"),
        temp.resolve("../../etc/cryo-backup.qcow2"))) {
      assertThatThrownBy(() -> cryo.client().backups().startPush(name, BackupOptions.full(),
          Map.of("vda", outside)))
          .extracting(e -> ((CryoException) e).code()).isEqualTo(ErrorCode.PERMISSION_DENIED);
    }
    assertThat(Path.of("/etc/cryo-backup.qcow2")).doesNotExist();
    assertThat(state()).isEqualTo(before);
  }

  @Test
  void redefine_missingBitmap_failedPrecondition() throws Exception {
    String xml = cps().xml(name, "base", false).replace("<name>base</name>",
        "<name>ghost</name>").replace("bitmap=\"base\"", "bitmap=\"ghost\"");
    assertThatThrownBy(() -> cps().redefine(name, xml))
        .isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
          assertThat(e.getMessage()).contains("no bitmap 'ghost'");
        });
    assertThat(cps().list(name)).extracting(Checkpoint::name).containsExactly("base");
  }

  @Test
  void undefine_thenDefineSameName_startsWithoutCheckpoints() throws Exception {
    String other = "cpundef-" + System.nanoTime();
    Path image = TestGuest.createQcow2(temp.resolve("u.qcow2"), "16M");
    String xml = BackupGuest.xml(other, image, "qcow2", null, null);
    cryo.client().domains().define(xml);
    cps().create(other, "<domaincheckpoint><name>old</name></domaincheckpoint>");
    cryo.client().domains().undefine(other);

    cryo.client().domains().define(xml.replaceFirst("<uuid>[^<]+</uuid>", ""));

    assertThat(cps().list(other)).isEmpty();
    assertThat(cryo.stateDir().resolve("domains/" + other + "/checkpoints")).doesNotExist();
    assertThat(BackupGuest.qemuImgOutput("info", image.toString()))
        .as("the bitmap stays in the image").contains("name: old");
    cryo.client().domains().undefine(other);
  }

  /** The tree as names plus the files of the state folder. */
  static List<String> state() throws Exception {
    List<String> out = new java.util.ArrayList<>(cps().list(name).stream()
        .map(Checkpoint::name).toList());
    try (Stream<Path> files = Files.walk(cryo.stateDir().resolve("domains"))) {
      files.map(Path::toString).sorted().forEach(out::add);
    }
    return out;
  }
}
