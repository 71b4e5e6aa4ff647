package dev.cryo.server.grpc;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import dev.cryo.api.v1.ErrorReason;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.ErrorKind;
import dev.cryo.server.error.NotFoundException;
import dev.cryo.server.error.Reason;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.protobuf.StatusProto;
import java.io.IOException;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(10)
class StatusMappingTest {

  @Test
  void everyKind_hasACode_andEveryReasonAKind() {
    assertThat(Arrays.stream(ErrorKind.values()).map(StatusMapping::code)).doesNotContainNull();
    assertThat(Arrays.stream(Reason.values()).map(Reason::kind)).doesNotContainNull();
    assertThat(StatusMapping.code(Reason.DOMAIN_NOT_FOUND.kind())).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(StatusMapping.code(Reason.QEMU_GONE.kind()))
        .isEqualTo(Status.Code.FAILED_PRECONDITION);
  }

  @Test
  void reasons_areExactlyTheProtosErrorReasons_inTheSameOrder() {
    assertThat(
            Arrays.stream(ErrorReason.values())
                .filter(
                    r -> r != ErrorReason.UNRECOGNIZED && r != ErrorReason.ERROR_REASON_UNSPECIFIED)
                .map(r -> r.name() + "=" + r.getNumber()))
        .as("cryo/v1/errors.proto lists every Reason, numbered in declaration order")
        .containsExactlyElementsOf(
            Arrays.stream(Reason.values()).map(r -> r.name() + "=" + (r.ordinal() + 1)).toList());
  }

  @Test
  void cryoException_becomesCodeMessageAndErrorInfo() throws Exception {
    StatusRuntimeException e =
        StatusMapping.toException(
            new CryoException(Reason.DOMAIN_NOT_FOUND, "no domain named 'x'").with("domain", "x"));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(e.getStatus().getDescription()).isEqualTo("no domain named 'x'");
    com.google.rpc.Status details = StatusProto.fromThrowable(e);
    assertThat(details.getDetailsList()).hasSize(1);
    ErrorInfo info = details.getDetails(0).unpack(ErrorInfo.class);
    assertThat(info.getReason()).isEqualTo("DOMAIN_NOT_FOUND");
    assertThat(info.getDomain()).isEqualTo(Reason.DOMAIN);
    assertThat(info.getMetadataMap()).containsEntry("domain", "x");
  }

  @Test
  void fieldAtFault_addsBadRequest() throws Exception {
    StatusRuntimeException e =
        StatusMapping.toException(
            new CryoException(Reason.DOMAIN_XML_INVALID, "<memory> is not a number").field("xml"));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
    Any bad = StatusProto.fromThrowable(e).getDetails(1);
    BadRequest.FieldViolation v = bad.unpack(BadRequest.class).getFieldViolations(0);
    assertThat(v.getField()).isEqualTo("xml");
    assertThat(v.getDescription()).isEqualTo("<memory> is not a number");
  }

  @Test
  void olderSubclasses_carryTheirKindsGenericReason() throws Exception {
    StatusRuntimeException e = StatusMapping.toException(new NotFoundException("gone"));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND);
    assertThat(StatusProto.fromThrowable(e).getDetails(0).unpack(ErrorInfo.class).getReason())
        .isEqualTo("NOT_FOUND");
  }

  @Test
  void unexpectedException_isInternalWithoutDetails() throws Exception {
    StatusRuntimeException e =
        StatusMapping.toException(new IllegalStateException("/secret/host/path broke"));
    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.INTERNAL);
    assertThat(e.getStatus().getDescription())
        .doesNotContain("/secret")
        .contains("IllegalStateException")
        .contains("server log");
    assertThat(StatusProto.fromThrowable(e).getDetails(0).unpack(ErrorInfo.class).getReason())
        .isEqualTo("INTERNAL");
    assertThat(StatusMapping.toException(new IOException("x")).getStatus().getCode())
        .isEqualTo(Status.Code.INTERNAL);
  }

  @Test
  void statusExceptions_passThrough() {
    StatusRuntimeException aborted = Status.ABORTED.asRuntimeException();
    assertThat(StatusMapping.toException(aborted)).isSameAs(aborted);
    assertThat(StatusMapping.toException(Status.CANCELLED.asException()).getStatus().getCode())
        .isEqualTo(Status.Code.CANCELLED);
  }
}
