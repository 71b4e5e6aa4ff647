package dev.cryo.client;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cryo.api.v1.BackupServiceGrpc;
import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.SnapshotServiceGrpc;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Which calls gRPC may retry: every unary Get and List of every service, nothing else. */
@Timeout(30)
class RetryConfigTest {
  private static final List<ServiceDescriptor> SERVICES = List.of(
      DomainServiceGrpc.getServiceDescriptor(),
      ImageServiceGrpc.getServiceDescriptor(),
      SnapshotServiceGrpc.getServiceDescriptor(),
      CheckpointServiceGrpc.getServiceDescriptor(),
      BackupServiceGrpc.getServiceDescriptor());

  @Test
  void idempotentReads_everyUnaryGetAndListOfEveryService() {
    Set<String> reads = SERVICES.stream().flatMap(s -> s.getMethods().stream())
        .filter(m -> m.getType() == MethodDescriptor.MethodType.UNARY)
        .filter(m -> m.getBareMethodName().startsWith("Get")
            || m.getBareMethodName().startsWith("List"))
        .map(MethodDescriptor::getFullMethodName)
        .collect(Collectors.toSet());
    assertThat(RetryConfig.IDEMPOTENT_READS).extracting(MethodDescriptor::getFullMethodName)
        .containsExactlyInAnyOrderElementsOf(reads)
        .contains("cryo.v1.SnapshotService/ListSnapshots",
            "cryo.v1.CheckpointService/GetCheckpoint", "cryo.v1.ImageService/GetImageInfo");
  }

  @Test
  void serviceConfig_namesEachReadOnce_noWrites() {
    @SuppressWarnings("unchecked")
    List<Map<String, ?>> names = (List<Map<String, ?>>) ((List<Map<String, ?>>)
        RetryConfig.serviceConfig().get("methodConfig")).get(0).get("name");
    assertThat(names).hasSize(RetryConfig.IDEMPOTENT_READS.size())
        .doesNotHaveDuplicates()
        .noneMatch(n -> n.get("method").toString().matches(
            "(Create|Delete|Revert|Save|Restore|Start|Cancel|Stream|Define|Undefine).*"));
  }
}
