package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.client.DomainState;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.StateReason;
import dev.cryo.client.Transferred;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shape of a move between hosts: two servers on one machine (two ports, two state folders);
 * the SDK pipes server A's save stream into server B's restore stream, with no file on either
 * side, and the guest carries on under B.
 */
@Timeout(600)
@LocalServer("moves a guest between two servers and reads their state folders")
class CrossServerTest {
  static final String NAME = "mover";

  @TempDir static Path temp;
  static CryoTarget a;
  static CryoTarget b;

  @BeforeAll
  static void startServers() throws Exception {
    TestGuest.dir();
    a = CryoTarget.start(Files.createDirectories(temp.resolve("a")));
    b = CryoTarget.start(Files.createDirectories(temp.resolve("b")));
  }

  @AfterAll
  static void stopServers() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(a.client().domains(), NAME);
      LifecycleCleanup.destroyAndUndefine(b.client().domains(), NAME);
    } finally {
      try {
        a.close();
      } finally {
        b.close();
      }
    }
  }

  @Test
  void transfer_guestCarriesOnUnderOtherServer() throws Exception {
    a.client().domains().define(GuestProbe.xml(NAME, 128, 16));
    a.client().domains().start(NAME);
    GuestProbe.Beat beat = GuestProbe.awaitBooted(a.client().domains(), NAME);
    beat = GuestProbe.latest(a.client().domains(), NAME, beat.checksum());

    long before = System.nanoTime();
    Transferred moved = a.client().images().transfer(NAME,
        SaveOptions.defaults().compression(ImageCompression.ZSTD),
        b.client().images(), RestoreOptions.defaults());
    Restored r = moved.restored();
    assertThat(moved.downtime()).isPositive()
        .isLessThanOrEqualTo(java.time.Duration.ofNanos(System.nanoTime() - before));

    assertThat(r.verified()).isTrue();
    assertThat(r.domain().state()).isEqualTo(DomainState.RUNNING);
    assertThat(r.domain().reason()).isEqualTo(StateReason.RESTORED);
    assertThat(a.client().domains().get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    GuestProbe.assertCarriesOn(b.client().domains(), NAME, beat);
    // Nothing touched disk: no image file in either state folder.
    for (CryoTarget t : new CryoTarget[] {a, b}) {
      try (Stream<Path> files = Files.walk(t.stateDir())) {
        assertThat(files.filter(f -> f.toString().endsWith(".save")).toList()).isEmpty();
      }
    }
  }
}
