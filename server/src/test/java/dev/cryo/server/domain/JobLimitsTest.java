package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.auth.Caller;
import dev.cryo.server.auth.Principal;
import dev.cryo.server.auth.Role;
import dev.cryo.server.error.ResourceExhaustedException;
import io.grpc.Context;
import java.util.Set;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class JobLimitsTest {
  private static <T> T as(String principal, Callable<T> body) throws Exception {
    return Context.current()
        .withValue(Caller.KEY, new Principal(principal, Role.ADMIN, Set.of()))
        .call(body);
  }

  @Test
  void acquire_pastPrincipalLimit_isResourceExhausted() throws Exception {
    JobLimits limits = new JobLimits(10, 2);
    as("alice", () -> limits.acquire("save"));
    Runnable second = as("alice", () -> limits.acquire("save"));
    assertThatThrownBy(() -> as("alice", () -> limits.acquire("save")))
        .isInstanceOf(ResourceExhaustedException.class).hasMessageContaining("'alice'");
    assertThatCode(() -> as("bob", () -> limits.acquire("save"))).doesNotThrowAnyException();
    second.run();
    assertThatCode(() -> as("alice", () -> limits.acquire("save"))).doesNotThrowAnyException();
  }

  @Test
  void acquire_pastServerLimit_isResourceExhausted() throws Exception {
    JobLimits limits = new JobLimits(2, 2);
    Runnable first = as("alice", () -> limits.acquire("backup"));
    as("bob", () -> limits.acquire("backup"));
    assertThatThrownBy(() -> as("carol", () -> limits.acquire("backup")))
        .isInstanceOf(ResourceExhaustedException.class).hasMessageContaining("the server");
    first.run();
    assertThatCode(() -> as("carol", () -> limits.acquire("backup")))
        .doesNotThrowAnyException();
  }
}
