package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.DomainState;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.SaveOptions;
import dev.cryo.client.SaveSummary;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Limits on client image streams: a client that stalls a restore is timed out and its
 * half-restored QEMU cleaned up; an image larger than the server accepts is refused. Either way
 * the domain is left as it was, shut off, and no QEMU runs.
 */
@Timeout(300)
@LocalServer("needs a server with small stream limits")
class StreamLimitsTest {
  static final String NAME = "limits";
  static final long MAX_IMAGE_BYTES = 8 << 20;

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Path image;
  static SaveSummary saved;

  @BeforeAll
  static void saveGuestOnce() throws Exception {
    cryo = CryoTarget.start(temp, List.of("--stream-stall-seconds", "3",
        "--max-image-bytes", Long.toString(MAX_IMAGE_BYTES)));
    cryo.client().domains().define(TestGuest.xml(NAME, 128, 16, null, null));
    cryo.client().domains().start(NAME);
    GuestProbe.awaitBooted(cryo.client().domains(), NAME);
    image = temp.resolve("limits.save");
    saved = cryo.client().images().save(NAME, image, SaveOptions.defaults());
    assertThat(Files.size(image)).isGreaterThan(MAX_IMAGE_BYTES);
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  @Test
  void restore_clientStalls_isTimedOutAndCleanedUp() throws Exception {
    CountDownLatch released = new CountDownLatch(1);
    // Sends the first MiB, then nothing for up to a minute: a client that hangs.
    InputStream stalling = new FilterInputStream(Files.newInputStream(image)) {
      private long sent;

      @Override
      public int read(byte[] b, int off, int len) throws IOException {
        if (sent >= (1 << 20)) {
          try {
            released.await(60, TimeUnit.SECONDS);
          } catch (InterruptedException e) {
            throw new InterruptedIOException();
          }
          return -1;
        }
        int n = super.read(b, off, (int) Math.min(len, (1 << 20) - sent));
        sent += Math.max(n, 0);
        return n;
      }
    };
    Images images = cryo.client().images();
    try {
      assertThatThrownBy(() -> images.restore(stalling, saved.sha256(), saved.payloadBytes(),
          RestoreOptions.defaults()))
          .isInstanceOf(CryoException.class)
          .hasMessageContaining("sent nothing for 3 s")
          .hasMessageContaining("--stream-stall-seconds")
          .satisfies(e -> assertThat(((CryoException) e).code())
              .isEqualTo(ErrorCode.DEADLINE_EXCEEDED));
    } finally {
      released.countDown();
    }
    assertThat(cryo.client().domains().get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    cryo.assertNoGuestRunning();
  }

  @Test
  void restore_imageOverTheLimit_isResourceExhausted() {
    assertThatThrownBy(() -> cryo.client().images().restore(image, RestoreOptions.defaults()))
        .isInstanceOf(CryoException.class)
        .hasMessageContaining("--max-image-bytes")
        .satisfies(e -> assertThat(((CryoException) e).code())
            .isEqualTo(ErrorCode.RESOURCE_EXHAUSTED));
    assertThat(cryo.client().domains().get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    cryo.assertNoGuestRunning();
  }
}
