package dev.cryo.server.domain;

import java.time.Instant;

/** A lifecycle event: what happened, and the state it left the domain in. */
public record DomainEvent(
    String name, Type type, DomainState state, StateReason reason, Instant time) {

  /** libvirt's lifecycle event types. */
  public enum Type {
    DEFINED,
    UNDEFINED,
    STARTED,
    SUSPENDED,
    RESUMED,
    STOPPED,
    SHUTDOWN
  }
}
