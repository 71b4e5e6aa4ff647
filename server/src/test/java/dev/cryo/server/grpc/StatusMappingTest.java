package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.server.error.DataLossException;
import dev.cryo.server.error.FailedPreconditionException;
import dev.cryo.server.error.NotFoundException;
import io.grpc.Status;
import java.io.IOException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class StatusMappingTest {

  @Test
  void toStatus_ownExceptions_keepTheirMessage() {
    Status s = StatusMapping.toStatus(new NotFoundException("no domain named 'x'"));
    assertThat(s.getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(s.getDescription()).isEqualTo("no domain named 'x'");
    assertThat(StatusMapping.toStatus(new DataLossException("digest")).getCode())
        .isEqualTo(Status.Code.DATA_LOSS);
    assertThat(StatusMapping.toStatus(new FailedPreconditionException("x")).getCause())
        .isInstanceOf(FailedPreconditionException.class);
  }

  @Test
  void toStatus_unexpectedException_isInternalWithoutDetails() {
    Status s = StatusMapping.toStatus(new IllegalStateException("/secret/host/path broke"));
    assertThat(s.getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(s.getDescription()).doesNotContain("/secret");
  }

  @Test
  void toStatus_statusExceptions_passThrough() {
    assertThat(StatusMapping.toStatus(Status.ABORTED.asRuntimeException()).getCode())
        .isEqualTo(Status.Code.ABORTED);
    assertThat(StatusMapping.toStatus(new IOException("x")).getCode())
        .isEqualTo(Status.Code.INTERNAL);
  }
}
