package dev.cryo.server.grpc;

import com.google.protobuf.Timestamp;
import dev.cryo.api.v1.Accelerator;
import dev.cryo.api.v1.Domain;
import dev.cryo.api.v1.DomainJob;
import dev.cryo.api.v1.DomainEventType;
import dev.cryo.api.v1.DomainState;
import dev.cryo.api.v1.DomainStateReason;
import dev.cryo.api.v1.WatchDomainEventsResponse;
import dev.cryo.server.domain.DomainEvent;
import dev.cryo.server.domain.JobInfo;
import dev.cryo.server.domain.DomainInfo;
import dev.cryo.server.domain.StateReason;
import dev.cryo.server.qemu.QemuConfinement;
import dev.cryo.server.qemu.QemuSpec;
import java.time.Instant;

/** Conversions between the core's domain values and cryo.v1 messages. */
final class DomainProtos {
  private DomainProtos() {}

  static Domain toProto(DomainInfo info) {
    Domain.Builder b = Domain.newBuilder();
    if (info.confinement() != null) {
      b.setConfinement(toProto(info.confinement()));
    }
    return b
        .setName(info.name())
        .setUuid(info.uuid())
        .setState(toProto(info.state()))
        .setReason(toProto(info.reason()))
        .setStateTime(toProto(info.stateTime()))
        .setPid(info.pid())
        .setAccelerator(toProto(info.accelerator()))
        .setMemoryBytes(info.memoryBytes())
        .setCurrentMemoryBytes(info.currentMemoryBytes())
        .setVcpus(info.vcpus())
        .setHasManagedSave(info.hasManagedSave())
        .build();
  }

  static dev.cryo.api.v1.QemuConfinement toProto(QemuConfinement.Applied c) {
    dev.cryo.api.v1.QemuConfinement.Builder b = dev.cryo.api.v1.QemuConfinement.newBuilder()
        .setUser(c.user()).setUid(c.uid()).setSeccomp(c.seccomp());
    if (c.cgroup() != null) {
      b.setCgroup(c.cgroup().dir().toString())
          .setCgroupMemoryMaxBytes(c.cgroup().memoryMaxBytes())
          .setCgroupCpuWeight(c.cgroup().cpuWeight());
    }
    if (c.cgroupUnavailable() != null) {
      b.setCgroupUnavailableReason(c.cgroupUnavailable());
    }
    return b.build();
  }

  static WatchDomainEventsResponse toProto(DomainEvent event) {
    return WatchDomainEventsResponse.newBuilder()
        .setName(event.name())
        .setType(DomainEventType.valueOf("DOMAIN_EVENT_TYPE_" + event.type().name()))
        .setState(toProto(event.state()))
        .setReason(toProto(event.reason()))
        .setTime(toProto(event.time()))
        .build();
  }

  static DomainState toProto(dev.cryo.server.domain.DomainState state) {
    return DomainState.valueOf("DOMAIN_STATE_" + state.name());
  }

  static dev.cryo.server.domain.DomainState fromProto(DomainState state) {
    if (state == DomainState.DOMAIN_STATE_UNSPECIFIED || state == DomainState.UNRECOGNIZED) {
      throw new dev.cryo.server.error.InvalidArgumentException(
          "unknown domain state in filter: " + state);
    }
    return dev.cryo.server.domain.DomainState.valueOf(
        state.name().substring("DOMAIN_STATE_".length()));
  }

  static DomainStateReason toProto(StateReason reason) {
    return DomainStateReason.valueOf("DOMAIN_STATE_REASON_" + reason.name());
  }

  static Accelerator toProto(QemuSpec.Accelerator accel) {
    if (accel == null) {
      return Accelerator.ACCELERATOR_UNSPECIFIED;
    }
    return accel == QemuSpec.Accelerator.KVM ? Accelerator.ACCELERATOR_KVM
        : Accelerator.ACCELERATOR_TCG;
  }

  static DomainJob toProto(JobInfo job) {
    return DomainJob.newBuilder().setOperation(job.operation())
        .setStartTime(toProto(job.started()))
        .setElapsed(com.google.protobuf.Duration.newBuilder()
            .setSeconds(job.elapsed().getSeconds()).setNanos(job.elapsed().getNano()))
        .setPhase(job.phase()).setProcessedBytes(job.processedBytes())
        .setTotalBytes(job.totalBytes()).setAbortable(job.abortable())
        .setAbortRequested(job.abortRequested()).build();
  }

  static Timestamp toProto(Instant t) {
    return Timestamp.newBuilder().setSeconds(t.getEpochSecond()).setNanos(t.getNano()).build();
  }
}
