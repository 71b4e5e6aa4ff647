package dev.cryo.client;

import java.time.Instant;

/**
 * A domain and its state at the time of the call.
 *
 * @param name unique name on the server
 * @param uuid RFC 4122 UUID, lower case
 * @param state the state at the time of the call
 * @param reason why it is in that state
 * @param stateTime when it entered that state
 * @param pid QEMU's process id, 0 when shut off
 * @param accelerator {@link Accelerator#AUTO} when shut off
 * @param memoryBytes guest RAM in bytes ({@code <memory>})
 * @param currentMemoryBytes the memory the guest has now, in bytes: while it runs, what its
 *     virtio balloon leaves it (it inflates towards {@code <currentMemory>} after start); when
 *     shut off, {@code <currentMemory>}
 * @param vcpus number of virtual CPUs
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
    long currentMemoryBytes,
    int vcpus,
    boolean hasManagedSave) {}
