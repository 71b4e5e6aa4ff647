package dev.cryo.server.checkpoint;

import dev.cryo.server.error.InternalException;
import dev.cryo.server.qemu.QemuImg;
import java.util.ArrayList;
import java.util.List;

/**
 * Turns the allocation map of a finished backup target into the extents to send. Pure logic.
 *
 * <ul>
 *   <li>allocated data: sent with its bytes, read at the host offset, in pieces of at most
 *       {@code chunk} bytes;
 *   <li>allocated zeros: a zero extent;
 *   <li>unallocated: skipped for an incremental (the cluster did not change), a zero extent for a
 *       full backup (the target read as zeros there, and so did the disk).
 * </ul>
 */
final class ExtentPlan {
  private ExtentPlan() {}

  /**
   * One extent to send.
   *
   * @param start offset in the disk
   * @param length bytes
   * @param zero whether it reads as zeros (no data is sent)
   * @param hostOffset where the bytes are in the qcow2 file; -1 for zeros
   */
  record Piece(long start, long length, boolean zero, long hostOffset) {}

  static List<Piece> plan(List<QemuImg.MapEntry> map, boolean full, int chunk) {
    List<Piece> out = new ArrayList<>();
    for (QemuImg.MapEntry e : map) {
      if (!e.present()) {
        if (full) {
          out.add(new Piece(e.start(), e.length(), true, -1));
        }
        continue;
      }
      if (e.zero() || !e.data()) {
        out.add(new Piece(e.start(), e.length(), true, -1));
        continue;
      }
      if (e.offset() < 0) {
        throw new InternalException("qemu-img map gave no host offset for the data at "
            + e.start() + "; the backup target must be an uncompressed qcow2");
      }
      for (long pos = 0; pos < e.length(); pos += chunk) {
        out.add(new Piece(e.start() + pos, Math.min(chunk, e.length() - pos), false,
            e.offset() + pos));
      }
    }
    return out;
  }

  /** Bytes of data (not zeros) the plan sends. */
  static long dataBytes(List<Piece> plan) {
    return plan.stream().filter(p -> !p.zero()).mapToLong(Piece::length).sum();
  }
}
