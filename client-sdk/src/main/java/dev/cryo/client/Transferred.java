package dev.cryo.client;

import java.time.Duration;
import java.util.Objects;

/**
 * The outcome of {@link Images#transfer}: a guest moved from one server to another.
 *
 * @param saved the save on the source server
 * @param restored the restore on the target server
 * @param downtime how long the guest ran nowhere: from the moment the source paused its CPUs to
 *     the moment the target had it running (or paused, as asked), measured by this client
 */
public record Transferred(SaveSummary saved, Restored restored, Duration downtime) {
  public Transferred {
    Objects.requireNonNull(saved, "saved");
    Objects.requireNonNull(restored, "restored");
    Objects.requireNonNull(downtime, "downtime");
  }
}
