package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.qemu.RunDir;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The domain job as GetDomainJob and AbortDomainJob see it. */
@Timeout(10)
class DomainJobTest {
  private static Domain domain() {
    DomainDef def = DomainXml.parse("<domain type='kvm'><name>vm1</name>"
        + "<uuid>6f1f3f2e-52a4-4c4b-9d0e-3c8f0a7e1b11</uuid><memory unit='MiB'>64</memory>"
        + "<vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os></domain>").def();
    return new Domain(def, new RunDir(Path.of("/nonexistent")), JobLimits.DEFAULT);
  }

  @Test
  void jobInfo_reportsOperationPhaseAndBytes_untilClosed() {
    Domain d = domain();
    assertThat(d.jobInfo()).isNull();
    try (Domain.Job job = d.beginJob(Principal.LOCAL, "snapshot create")) {
      job.progress("memory", 10, 100);
      JobInfo info = d.jobInfo();
      assertThat(info.operation()).isEqualTo("snapshot create");
      assertThat(info.phase()).isEqualTo("memory");
      assertThat(info.processedBytes()).isEqualTo(10);
      assertThat(info.totalBytes()).isEqualTo(100);
      assertThat(info.abortable()).isFalse();
      assertThat(info.elapsed().isNegative()).isFalse();
    }
    assertThat(d.jobInfo()).isNull();
  }

  @Test
  void beginJob_nested_keepsTheOuterJob() {
    Domain d = domain();
    try (Domain.Job outer = d.beginJob(Principal.LOCAL, "snapshot create")) {
      try (Domain.Job inner = d.beginJob(Principal.LOCAL, "save")) {
        inner.progress("memory", 1, 2);
        assertThat(d.jobInfo().operation()).isEqualTo("snapshot create");
      }
      assertThat(d.jobInfo()).as("inner close keeps the outer job").isNotNull();
      assertThat(d.jobInfo().phase()).isEqualTo("memory");
    }
    assertThat(d.jobInfo()).isNull();
  }

  @Test
  void abortJob_withoutJobOrHook_isFailedPrecondition() {
    Domain d = domain();
    assertThatThrownBy(d::abortJob).isInstanceOf(FailedPreconditionException.class)
        .hasMessageContaining("no job");
    try (Domain.Job job = d.beginJob(Principal.LOCAL, "shutdown")) {
      assertThatThrownBy(d::abortJob).isInstanceOf(FailedPreconditionException.class)
          .hasMessageContaining("cannot be aborted");
      assertThat(job.abortRequested()).isFalse();
    }
  }

  @Test
  void abortJob_runsTheHookOnce_andMarksTheJob() {
    Domain d = domain();
    AtomicInteger runs = new AtomicInteger();
    try (Domain.Job job = d.beginJob(Principal.LOCAL, "snapshot create")) {
      job.onAbort(runs::incrementAndGet);
      JobInfo info = d.abortJob();
      assertThat(info.abortRequested()).isTrue();
      assertThat(job.abortRequested()).isTrue();
      assertThat(runs).hasValue(1);
    }
  }

  @Test
  void abortSignal_firedBeforeTheHook_runsItWhenSet() {
    Domain d = domain();
    AbortSignal signal = new AbortSignal();
    signal.fire();
    AtomicInteger runs = new AtomicInteger();
    try (Domain.Job job = d.beginJob(Principal.LOCAL, "snapshot revert")) {
      signal.attach(job);
      assertThat(job.abortRequested()).isTrue();
      job.onAbort(runs::incrementAndGet);
      assertThat(runs).hasValue(1);
    }
  }
}
