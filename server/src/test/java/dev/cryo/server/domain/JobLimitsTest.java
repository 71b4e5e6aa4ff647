package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.auth.Principal;
import dev.cryo.server.auth.Role;
import dev.cryo.server.error.Reason;
import dev.cryo.server.qemu.RunDir;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class JobLimitsTest {
  private static final Principal ALICE = new Principal("alice", Role.ADMIN, Set.of("a1", "a2"));
  private static final Principal BOB = new Principal("bob", Role.ADMIN, Set.of());
  private static final Principal CAROL = new Principal("carol", Role.ADMIN, Set.of());

  @Test
  void acquire_pastPrincipalLimit_isResourceExhausted() {
    JobLimits limits = new JobLimits(10, 2);
    limits.acquire(ALICE, "save");
    Runnable second = limits.acquire(ALICE, "save");
    assertThatThrownBy(() -> limits.acquire(ALICE, "save"))
        .hasFieldOrPropertyWithValue("reason", Reason.JOB_LIMIT)
        .hasMessageContaining("'alice'");
    assertThatCode(() -> limits.acquire(BOB, "save")).doesNotThrowAnyException();
    second.run();
    assertThatCode(() -> limits.acquire(ALICE, "save")).doesNotThrowAnyException();
  }

  @Test
  void acquire_pastServerLimit_isResourceExhausted() {
    JobLimits limits = new JobLimits(2, 2);
    Runnable first = limits.acquire(ALICE, "backup");
    limits.acquire(BOB, "backup");
    assertThatThrownBy(() -> limits.acquire(CAROL, "backup"))
        .hasFieldOrPropertyWithValue("reason", Reason.JOB_LIMIT)
        .hasMessageContaining("the server");
    first.run();
    assertThatCode(() -> limits.acquire(CAROL, "backup")).doesNotThrowAnyException();
  }

  /**
   * The bug this guards against: a job begun on an executor thread, which carries no call
   * context, used to count against nobody (the local admin). The principal now travels with the
   * call into beginJob, whatever the thread.
   */
  @Test
  void beginJob_onExecutorThreads_countsAgainstTheCallerGiven() throws Exception {
    JobLimits limits = new JobLimits(10, 1);
    Domain a1 = domain("a1", "6f1f3f2e-52a4-4c4b-9d0e-3c8f0a7e1b11", limits);
    Domain a2 = domain("a2", "6f1f3f2e-52a4-4c4b-9d0e-3c8f0a7e1b12", limits);
    Domain b1 = domain("b1", "6f1f3f2e-52a4-4c4b-9d0e-3c8f0a7e1b13", limits);
    // Job locks belong to the thread that took them: each job is begun and closed on one thread.
    ExecutorService first = Executors.newSingleThreadExecutor();
    ExecutorService others = Executors.newSingleThreadExecutor();
    try {
      Domain.Job held = first.submit(() -> a1.beginJob(ALICE, "save")).get();
      Future<Domain.Job> second = others.submit(() -> a2.beginJob(ALICE, "save"));
      assertThatThrownBy(second::get)
          .isInstanceOf(ExecutionException.class)
          .cause()
          .hasFieldOrPropertyWithValue("reason", Reason.JOB_LIMIT)
          .hasMessageContaining("'alice'");
      assertThat(a2.jobInfo()).as("the refused job left the domain free").isNull();
      others.submit(() -> b1.beginJob(BOB, "save").close()).get();
      first.submit(held::close).get();
      others.submit(() -> a2.beginJob(ALICE, "save").close()).get();
    } finally {
      first.shutdownNow();
      others.shutdownNow();
    }
  }

  private static Domain domain(String name, String uuid, JobLimits limits) {
    DomainDef def = DomainXml.parse("<domain type='kvm'><name>" + name + "</name><uuid>" + uuid
        + "</uuid><memory unit='MiB'>64</memory><vcpu>1</vcpu>"
        + "<os><type arch='x86_64'>hvm</type></os></domain>").def();
    return new Domain(def, new RunDir(Path.of("/nonexistent")), limits);
  }
}
