package dev.cryo.server.domain;

import dev.cryo.server.qemu.QemuConfinement;
import dev.cryo.server.qemu.QemuSpec.Accelerator;
import java.time.Instant;

/**
 * A domain's state at one moment.
 *
 * @param pid QEMU's pid, 0 when shut off
 * @param accelerator null when shut off
 * @param memoryBytes the guest's RAM ({@code <memory>})
 * @param currentMemoryBytes what the guest has now: its balloon's size while it runs, {@code
 *     <currentMemory>} when shut off
 * @param confinement how QEMU is confined (user, seccomp, cgroup); null when shut off
 */
public record DomainInfo(
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
    boolean hasManagedSave,
    QemuConfinement.Applied confinement) {}
