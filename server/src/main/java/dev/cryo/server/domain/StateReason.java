package dev.cryo.server.domain;

/** Why a domain is in its state; the names follow libvirt's per-state reasons. */
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
  DEFINED
}
