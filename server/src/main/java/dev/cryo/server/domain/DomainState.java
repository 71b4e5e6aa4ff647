package dev.cryo.server.domain;

/** libvirt's domain states, as far as Cryo reports them. */
public enum DomainState {
  SHUTOFF,
  RUNNING,
  PAUSED,
  /** Asked to power off, not yet off. */
  SHUTDOWN,
  CRASHED;

  /** True when a QEMU process exists for the domain. */
  public boolean isActive() {
    return this == RUNNING || this == PAUSED || this == SHUTDOWN;
  }
}
