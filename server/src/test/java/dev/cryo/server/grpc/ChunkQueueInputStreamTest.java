package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import dev.cryo.server.error.CancelledException;
import dev.cryo.server.image.ChunkedImageStream.Piece;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class ChunkQueueInputStreamTest {
  private final RecordingServerCall<String> call = new RecordingServerCall<>();
  private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
  private final StreamGate<String> gate = StreamGate.clientStream(call,
      new StreamLimits(Duration.ofSeconds(5), StreamLimits.DEFAULT_BUFFER_BYTES, 1 << 20),
      timer, String::length, "the restore");
  private final List<String> released = new ArrayList<>();
  private final ChunkQueueInputStream chunks = new ChunkQueueInputStream(gate, 1 << 20);

  @AfterEach
  void stopTimer() {
    timer.shutdownNow();
  }

  private void offer(String text) {
    chunks.offer(ByteString.copyFromUtf8(text), () -> released.add(text));
  }

  private static String text(Piece p) {
    StringBuilder s = new StringBuilder();
    for (ByteBuffer b : p.buffers()) {
      s.append(StandardCharsets.UTF_8.decode(b.duplicate()));
    }
    return s.toString();
  }

  @Test
  void piecesStartWhereReadingStoppedAndAreReleasedByTheirHolder() throws Exception {
    offer("HEADpayload-1");
    offer("payload-2");
    chunks.end();

    assertThat(new String(chunks.readNBytes(4), StandardCharsets.UTF_8)).isEqualTo("HEAD");
    Piece rest = chunks.nextPiece();
    assertThat(text(rest)).isEqualTo("payload-1");
    Piece second = chunks.nextPiece();
    assertThat(text(second)).isEqualTo("payload-2");
    assertThat(chunks.nextPiece()).isNull();
    assertThat(released).as("pieces are the holder's to release").isEmpty();
    assertThat(call.requested).as("the first message, then one more chunk per chunk taken")
        .isEqualTo(1 + 2);

    rest.release().run();
    second.release().run();
    chunks.close();
    assertThat(released).containsExactly("HEADpayload-1", "payload-2");
  }

  @Test
  void chunksReadAsBytesAreReleasedOnceRead() throws Exception {
    offer("ab");
    offer("cd");
    chunks.end();
    assertThat(new String(chunks.readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("abcd");
    assertThat(released).containsExactly("ab", "cd");
  }

  @Test
  void failureAndCloseReleaseWhatIsQueuedAndWhatArrivesLater() {
    offer("one");
    offer("two");
    chunks.fail(new CancelledException("cancelled by the client"));
    assertThat(released).containsExactly("one", "two");
    assertThatThrownBy(chunks::nextPiece).isInstanceOf(CancelledException.class);

    offer("late");
    assertThat(released).containsExactly("one", "two", "late");
    chunks.close();
    offer("after close");
    assertThat(released).contains("after close");
  }
}
