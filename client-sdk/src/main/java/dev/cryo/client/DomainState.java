package dev.cryo.client;

/** libvirt's domain states. */
public enum DomainState {
  /** Not running: no QEMU process. */
  SHUTOFF,
  /** QEMU runs and the CPUs run. */
  RUNNING,
  /** QEMU runs, the CPUs are stopped. */
  PAUSED,
  /** Asked to power off, not yet off. */
  SHUTDOWN,
  /** QEMU exited abnormally. */
  CRASHED,
  /** A state this SDK version does not know. */
  UNKNOWN
}
