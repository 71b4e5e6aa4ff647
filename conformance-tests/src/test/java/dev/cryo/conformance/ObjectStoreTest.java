package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.api.v1.AfterSave;
import dev.cryo.api.v1.GetImageInfoRequest;
import dev.cryo.api.v1.GetImageInfoResponse;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.RestoreDomainRequest;
import dev.cryo.api.v1.RestoreDomainResponse;
import dev.cryo.api.v1.RestoreOptions;
import dev.cryo.api.v1.SaveDomainRequest;
import dev.cryo.api.v1.SaveDomainResponse;
import dev.cryo.api.v1.SaveSummary;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Images in an S3-compatible object store, against a real S3 server this test starts (S3Proxy,
 * filesystem backend, its own process): save to an object, read its facts, restore from it and
 * the guest carries on; keys outside the bucket are refused; a truncated object never runs.
 */
@Timeout(1200)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ObjectStoreTest {
  static final String NAME = "s3-guest";
  static final String BUCKET = "cryo-images";

  @TempDir static Path temp;
  static S3ProxyProcess s3proxy;
  static S3Client s3;
  static CryoTarget cryo;
  static Domains domains;
  static ManagedChannel channel;
  static ImageServiceGrpc.ImageServiceBlockingStub images;
  static GuestProbe.Beat booted;

  @BeforeAll
  static void start() throws Exception {
    TestGuest.dir();
    s3proxy = S3ProxyProcess.start(java.nio.file.Files.createDirectories(temp.resolve("s3")));
    s3 = s3proxy.client();
    s3.createBucket(b -> b.bucket(BUCKET));
    Path creds = s3proxy.credentialsFile(temp.resolve("aws-credentials"),
        S3ProxyProcess.CREDENTIAL);
    cryo = CryoTarget.start(temp, List.of("--object-store-bucket", BUCKET,
        "--object-store-endpoint", s3proxy.endpoint(), "--object-store-prefix", "tenant-a/",
        "--object-store-path-style", "--object-store-credentials", creds.toString(),
        "--object-store-part-mib", "5"));
    domains = cryo.client().domains();
    channel = RawCalls.transport(cryo.target());
    images = ImageServiceGrpc.newBlockingStub(channel);
    domains.define(GuestProbe.xml(NAME, 128, 16));
    domains.start(NAME);
    booted = GuestProbe.awaitBooted(domains, NAME);
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(domains, NAME);
    } finally {
      try {
        channel.shutdownNow();
        cryo.close();
      } finally {
        s3.close();
        s3proxy.close();
      }
    }
  }

  static SaveSummary save(String key) {
    Iterator<SaveDomainResponse> it = images.withDeadlineAfter(300, TimeUnit.SECONDS)
        .saveDomain(SaveDomainRequest.newBuilder().setName(NAME).setObjectKey(key)
            .setAfter(AfterSave.AFTER_SAVE_STOP).build());
    SaveSummary summary = null;
    while (it.hasNext()) {
      SaveDomainResponse r = it.next();
      if (r.hasSummary()) {
        summary = r.getSummary();
      }
    }
    return summary;
  }

  static RestoreDomainResponse restore(String key) throws Exception {
    CompletableFuture<RestoreDomainResponse> done = new CompletableFuture<>();
    StreamObserver<RestoreDomainRequest> req = ImageServiceGrpc.newStub(channel)
        .withDeadlineAfter(300, TimeUnit.SECONDS)
        .restoreDomain(new StreamObserver<>() {
          @Override
          public void onNext(RestoreDomainResponse value) {
            done.complete(value);
          }

          @Override
          public void onError(Throwable t) {
            done.completeExceptionally(t);
          }

          @Override
          public void onCompleted() {}
        });
    req.onNext(RestoreDomainRequest.newBuilder()
        .setOptions(RestoreOptions.newBuilder().setObjectKey(key)).build());
    req.onCompleted();
    try {
      return done.get(300, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      throw (Exception) e.getCause();
    }
  }

  @Test
  @Order(1)
  void saveToObject_thenInfo_thenRestore_theGuestCarriesOn() throws Exception {
    GuestProbe.Beat before = GuestProbe.latest(domains, NAME, booted.checksum());
    SaveSummary summary = save("vm/s3-guest.save");
    assertThat(summary.getObjectKey()).isEqualTo("s3://" + BUCKET + "/tenant-a/vm/s3-guest.save");
    long size = s3.headObject(b -> b.bucket(BUCKET).key("tenant-a/vm/s3-guest.save"))
        .contentLength();
    assertThat(size).isEqualTo(summary.getImageBytes());
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.SHUTOFF);

    GetImageInfoResponse info = images.getImageInfo(GetImageInfoRequest.newBuilder()
        .setObjectKey("s3://" + BUCKET + "/tenant-a/vm/s3-guest.save").build());
    assertThat(info.getXml()).contains("<name>" + NAME + "</name>");
    assertThat(info.getSha256()).isEqualTo(summary.getSha256());
    assertThat(info.getPayloadBytes()).isEqualTo(summary.getPayloadBytes()
        + (summary.getImageBytes() - summary.getPayloadBytes() - info.getPayloadOffset()));

    RestoreDomainResponse restored = restore("vm/s3-guest.save");
    assertThat(restored.getVerified()).isTrue();
    GuestProbe.assertCarriesOn(domains, NAME, before);
  }

  @Test
  @Order(2)
  void keyOutsideTheBucketOrPrefix_isPathNotAllowed() {
    for (String key : List.of("../escape.save", "a/../../b.save", "s3://other-bucket/x.save",
        "s3://" + BUCKET + "/tenant-b/x.save", "vm//x.save")) {
      assertThatThrownBy(() -> images.getImageInfo(GetImageInfoRequest.newBuilder()
          .setObjectKey(key).build()))
          .as(key)
          .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
            assertThat(e.getStatus().getDescription()).contains("tenant-a/");
          });
    }
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.RUNNING);
  }

  @Test
  @Order(3)
  void truncatedObject_isDataLoss_andTheGuestNeverRuns() throws Exception {
    byte[] whole = s3.getObjectAsBytes(b -> b.bucket(BUCKET)
        .key("tenant-a/vm/s3-guest.save")).asByteArray();
    s3.putObject(b -> b.bucket(BUCKET).key("tenant-a/vm/cut.save"),
        RequestBody.fromBytes(Arrays.copyOf(whole, whole.length * 2 / 3)));
    domains.destroy(NAME);
    assertThatThrownBy(() -> restore("vm/cut.save"))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e ->
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DATA_LOSS));
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.SHUTOFF);
    assertThat(cryo.qemuProcesses()).isEmpty();
  }

  @Test
  @Order(4)
  void missingObject_isNotFound() {
    assertThatThrownBy(() -> images.getImageInfo(GetImageInfoRequest.newBuilder()
        .setObjectKey("vm/none.save").build()))
        .isInstanceOfSatisfying(StatusRuntimeException.class, e ->
            assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.NOT_FOUND));
  }

  @Test
  @Order(5)
  void badCredentials_isPermissionDenied_missingBucket_isFailedPrecondition() throws Exception {
    Path wrong = s3proxy.credentialsFile(temp.resolve("wrong-credentials"), "not-the-secret");
    try (CryoTarget bad = CryoTarget.start(temp.resolve("bad"), List.of("--object-store-bucket",
        BUCKET, "--object-store-endpoint", s3proxy.endpoint(), "--object-store-path-style",
        "--object-store-credentials", wrong.toString()))) {
      ManagedChannel ch = RawCalls.transport(bad.target());
      try {
        assertThatThrownBy(() -> ImageServiceGrpc.newBlockingStub(ch).getImageInfo(
            GetImageInfoRequest.newBuilder().setObjectKey("tenant-a/vm/s3-guest.save").build()))
            .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.PERMISSION_DENIED);
              assertThat(e.getStatus().getDescription()).contains("credentials");
            });
      } finally {
        ch.shutdownNow();
      }
    }
    Path creds = s3proxy.credentialsFile(temp.resolve("aws-credentials"),
        S3ProxyProcess.CREDENTIAL);
    try (CryoTarget missing = CryoTarget.start(temp.resolve("missing"), List.of(
        "--object-store-bucket", "no-such-bucket", "--object-store-endpoint",
        s3proxy.endpoint(), "--object-store-path-style", "--object-store-credentials",
        creds.toString()))) {
      ManagedChannel ch = RawCalls.transport(missing.target());
      try {
        assertThatThrownBy(() -> ImageServiceGrpc.newBlockingStub(ch).getImageInfo(
            GetImageInfoRequest.newBuilder().setObjectKey("x.save").build()))
            .isInstanceOfSatisfying(StatusRuntimeException.class, e -> {
              assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
              assertThat(e.getStatus().getDescription()).contains("no-such-bucket");
            });
      } finally {
        ch.shutdownNow();
      }
    }
  }

  @Test
  @Order(6)
  void s3ServerKilledMidUpload_saveFailsUnavailable_guestCarriesOn_noObject() throws Exception {
    domains.start(NAME);
    GuestProbe.Beat up = GuestProbe.awaitBooted(domains, NAME);
    Iterator<SaveDomainResponse> it = images.withDeadlineAfter(300, TimeUnit.SECONDS)
        .saveDomain(SaveDomainRequest.newBuilder().setName(NAME).setObjectKey("vm/killed.save")
            .setCompression(dev.cryo.api.v1.Compression.COMPRESSION_BZIP2)
            .setAfter(AfterSave.AFTER_SAVE_CONTINUE).build());
    // bzip2 makes the save slow enough that the first progress report comes mid-upload.
    while (it.hasNext() && !it.next().hasProgress()) {
      // setup messages
    }
    s3proxy.kill();
    assertThatThrownBy(() -> {
      while (it.hasNext()) {
        it.next();
      }
    }).isInstanceOfSatisfying(StatusRuntimeException.class, e ->
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAVAILABLE));
    assertThat(domains.get(NAME).state()).isEqualTo(DomainState.RUNNING);
    GuestProbe.Beat now = GuestProbe.latest(domains, NAME, up.checksum());
    assertThat(now.boot()).isEqualTo(up.boot());
    s3proxy.restart();
    assertThat(s3.listObjectsV2(b -> b.bucket(BUCKET).prefix("tenant-a/vm/killed")).contents())
        .isEmpty();
  }
}
