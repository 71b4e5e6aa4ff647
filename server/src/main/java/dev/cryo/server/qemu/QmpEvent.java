package dev.cryo.server.qemu;

import com.google.gson.JsonObject;
import java.time.Instant;
import java.util.Objects;

/**
 * An asynchronous QMP event, e.g. {@code STOP}, {@code RESUME}, {@code SHUTDOWN}, {@code
 * MIGRATION}.
 *
 * <p>The {@code data} object is shared by every listener of the event: treat it as read-only.
 *
 * @param name the event name as QEMU spells it, e.g. {@code "STOP"}
 * @param data the event's {@code data} member; an empty object when QEMU sent none
 * @param timestamp when QEMU emitted the event (QEMU's host clock, microsecond precision)
 */
record QmpEvent(String name, JsonObject data, Instant timestamp) {
  /** Validates that no component is null. */
  public QmpEvent {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(data, "data");
    Objects.requireNonNull(timestamp, "timestamp");
  }
}
