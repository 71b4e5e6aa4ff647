package dev.cryo.client;

import java.time.Instant;

/**
 * A lifecycle event and the state it left the domain in.
 *
 * @param name the domain
 * @param type what happened
 * @param state the domain's state after the event
 * @param reason why it is in that state
 * @param time when it happened, by the server's clock
 */
public record DomainEvent(String name, Type type, DomainState state, StateReason reason,
    Instant time) {

  /** libvirt's lifecycle event types. */
  public enum Type {
    /** The domain was defined or its definition updated. */
    DEFINED,
    /** The definition was removed. */
    UNDEFINED,
    /** QEMU started (boot or restore). */
    STARTED,
    /** The CPUs were paused. */
    SUSPENDED,
    /** The CPUs run again. */
    RESUMED,
    /** QEMU stopped (destroyed, powered off, crashed or saved). */
    STOPPED,
    /** The guest was asked to power off. */
    SHUTDOWN,
    /** An event type this SDK version does not know. */
    UNKNOWN
  }
}
