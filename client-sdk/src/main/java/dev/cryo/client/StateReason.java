package dev.cryo.client;

/** Why a domain is in its state (libvirt's per-state reasons). */
public enum StateReason {
  /** Running: booted from scratch. */
  BOOTED,
  /** Running: resumed after a pause. */
  UNPAUSED,
  /** Running or paused: restored from a saved image. */
  RESTORED,
  /** Reverted to a snapshot. */
  FROM_SNAPSHOT,
  /** Paused by a user request. */
  USER,
  /** Paused while starting, before the CPUs run. */
  STARTING_UP,
  /** Paused while saving; shut off after a save. */
  SAVED,
  /** Paused during a snapshot. */
  SNAPSHOT,
  /** Paused because of an I/O error. */
  IO_ERROR,
  /** Shut off: the guest powered itself off. */
  SHUTDOWN,
  /** Shut off: destroyed by a user request. */
  DESTROYED,
  /** QEMU exited unexpectedly. */
  CRASHED,
  /** Shut off: QEMU failed to start or to restore. */
  FAILED,
  /** The server re-attached to a QEMU it had started before it restarted. */
  REATTACHED,
  /** Paused for an incoming migration (restore in progress). */
  MIGRATION,
  /** Shut off: never started since it was defined. */
  DEFINED,
  /** A reason this SDK version does not know. */
  UNKNOWN
}
