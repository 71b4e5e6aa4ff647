package dev.cryo.server.checkpoint;

import java.util.List;

/**
 * A backup's state as GetBackupJob reports it.
 *
 * @param domain the domain
 * @param kind push or stream
 * @param state where it is
 * @param since the checkpoint of an incremental backup, or null
 * @param checkpoint the checkpoint created with the backup, or null
 * @param disks the disks backed up
 * @param bytesDone bytes copied (push) or sent (stream) so far
 * @param bytesTotal bytes to copy or send; grows while QEMU works out what to copy
 * @param message why it failed, or empty
 */
public record BackupJobInfo(String domain, Kind kind, State state, String since,
    String checkpoint, List<String> disks, long bytesDone, long bytesTotal, String message) {

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
