package dev.cryo.client;

/** Why a domain is in its state (libvirt's per-state reasons). */
public enum StateReason {
  BOOTED,
  UNPAUSED,
  RESTORED,
  FROM_SNAPSHOT,
  USER,
  STARTING_UP,
  SAVED,
  SNAPSHOT,
  IO_ERROR,
  SHUTDOWN,
  DESTROYED,
  CRASHED,
  FAILED,
  REATTACHED,
  MIGRATION,
  DEFINED,
  UNKNOWN
}
