package dev.cryo.client;

/** libvirt's domain states. */
public enum DomainState {
  SHUTOFF,
  RUNNING,
  PAUSED,
  /** Asked to power off, not yet off. */
  SHUTDOWN,
  CRASHED,
  /** A state this SDK version does not know. */
  UNKNOWN
}
