package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.CryoClient;
import dev.cryo.client.Snapshots;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Snapshots and checkpoints together: a revert would put the disk back behind the checkpoints'
 * dirty bitmaps and make every later incremental backup wrong, so it is refused, as libvirt does,
 * until the checkpoints are deleted.
 */
@Timeout(300)
class SnapshotCheckpointTest {
  @TempDir static Path temp;
  static CryoTarget cryo;

  @BeforeAll
  static void startServer() throws Exception {
    cryo = CryoTarget.start(temp);
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  @Test
  void revert_withCheckpoints_isRefusedUntilTheyAreDeleted() throws Exception {
    CryoClient c = cryo.client();
    String name = "snapcp-" + System.nanoTime();
    Path disk = TestGuest.createQcow2(temp.resolve(name + ".qcow2"), "16M");
    c.domains().define(TestGuest.xml(name, 64, 0, disk, "qcow2"));
    try {
      c.snapshots().create(name, "<domainsnapshot><name>s1</name></domainsnapshot>");
      c.checkpoints().create(name, "<domaincheckpoint><name>c1</name></domaincheckpoint>");
      assertThatThrownBy(() -> c.snapshots().revert(name, "s1", Snapshots.RevertTo.AS_SNAPSHOT))
          .isInstanceOf(CryoException.class)
          .hasMessageContaining("c1")
          .satisfies(e -> assertThat(((CryoException) e).code())
              .isEqualTo(ErrorCode.FAILED_PRECONDITION));
      c.checkpoints().delete(name, "c1");
      assertThat(c.snapshots().revert(name, "s1", Snapshots.RevertTo.AS_SNAPSHOT).name())
          .isEqualTo("s1");
    } finally {
      c.domains().undefine(name);
    }
  }
}
