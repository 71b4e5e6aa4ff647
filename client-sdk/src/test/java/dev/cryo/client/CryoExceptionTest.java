package dev.cryo.client;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.rpc.BadRequest;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import dev.cryo.api.v1.ErrorReason;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.CryoException.Reason;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** How the SDK reads a server's status details into {@link CryoException}. */
@Timeout(10)
class CryoExceptionTest {

  private static CryoException fromServer(Code code, String reason, String domain, Any... more) {
    com.google.rpc.Status.Builder s =
        com.google.rpc.Status.newBuilder()
            .setCode(code.getNumber())
            .setMessage("what to change")
            .addDetails(
                Any.pack(
                    ErrorInfo.newBuilder()
                        .setReason(reason)
                        .setDomain(domain)
                        .putMetadata("domain", "vm1")
                        .build()));
    for (Any a : more) {
      s.addDetails(a);
    }
    return CryoException.from(StatusProto.toStatusRuntimeException(s.build()));
  }

  @Test
  void errorInfo_givesReasonAndMetadata() {
    CryoException e = fromServer(Code.NOT_FOUND, "DOMAIN_NOT_FOUND", "cryo.dev");
    assertThat(e.code()).isEqualTo(ErrorCode.NOT_FOUND);
    assertThat(e.reason()).isEqualTo(Reason.DOMAIN_NOT_FOUND);
    assertThat(e.metadata()).containsEntry("domain", "vm1");
    assertThat(e.field()).isNull();
    assertThat(e).hasMessage("what to change");
  }

  @Test
  void badRequest_givesTheField() {
    CryoException e =
        fromServer(
            Code.INVALID_ARGUMENT,
            "DOMAIN_XML_INVALID",
            "cryo.dev",
            Any.pack(
                BadRequest.newBuilder()
                    .addFieldViolations(
                        BadRequest.FieldViolation.newBuilder()
                            .setField("xml")
                            .setDescription("no <name>"))
                    .build()));
    assertThat(e.reason()).isEqualTo(Reason.DOMAIN_XML_INVALID);
    assertThat(e.field()).isEqualTo("xml");
  }

  @Test
  void reasonNewerThanTheSdk_isUnrecognized_andTheCodeStillHolds() {
    CryoException e = fromServer(Code.ABORTED, "SOMETHING_FROM_2030", "cryo.dev");
    assertThat(e.reason()).isEqualTo(Reason.UNKNOWN);
    assertThat(e.code()).isEqualTo(ErrorCode.ABORTED);
  }

  @Test
  void otherDomainsReasons_andPlainStatuses_areUnspecified() {
    CryoException foreign = fromServer(Code.NOT_FOUND, "DOMAIN_NOT_FOUND", "example.com");
    assertThat(foreign.reason()).isEqualTo(Reason.NONE);
    assertThat(foreign.metadata()).isEmpty();
    CryoException plain =
        CryoException.from(Status.UNAVAILABLE.withDescription("proxy down").asRuntimeException());
    assertThat(plain.reason()).isEqualTo(Reason.NONE);
    assertThat(plain.code()).isEqualTo(ErrorCode.UNAVAILABLE);
    assertThat(plain).hasMessage("proxy down");
  }

  @Test
  void reasons_areThoseOfTheProto() {
    assertThat(
            Arrays.stream(Reason.values())
                .map(Reason::name)
                .filter(n -> !n.equals("NONE") && !n.equals("UNKNOWN")))
        .containsExactlyElementsOf(
            Arrays.stream(ErrorReason.values())
                .map(ErrorReason::name)
                .filter(n -> !n.equals("ERROR_REASON_UNSPECIFIED") && !n.equals("UNRECOGNIZED"))
                .toList());
  }
}
