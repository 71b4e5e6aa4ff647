package dev.cryo.client;

import java.util.List;

/**
 * A backup's state.
 *
 * @param domain the domain
 * @param kind push or stream
 * @param state where it is
 * @param since the checkpoint of an incremental backup, or null for a full one
 * @param checkpoint the checkpoint created with the backup, or null
 * @param disks the disks backed up
 * @param bytesDone bytes copied (push) or sent (stream)
 * @param bytesTotal bytes to copy or send
 * @param message why it failed, or empty
 */
public record BackupJob(String domain, Kind kind, State state, String since, String checkpoint,
    List<String> disks, long bytesDone, long bytesTotal, String message) {
  public BackupJob {
    disks = List.copyOf(disks);
  }

  public enum Kind {
    PUSH,
    STREAM
  }

  public enum State {
    RUNNING,
    COMPLETED,
    FAILED,
    CANCELLED
  }
}
