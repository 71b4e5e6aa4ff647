package dev.cryo.client;

import java.time.Instant;

/**
 * A domain and its state at the time of the call.
 *
 * @param pid QEMU's process id, 0 when shut off
 * @param accelerator {@link Accelerator#AUTO} when shut off
 * @param memoryBytes guest RAM in bytes
 * @param hasManagedSave whether the next start restores a managed save image
 */
public record Domain(
    String name,
    String uuid,
    DomainState state,
    StateReason reason,
    Instant stateTime,
    long pid,
    Accelerator accelerator,
    long memoryBytes,
    int vcpus,
    boolean hasManagedSave) {}
