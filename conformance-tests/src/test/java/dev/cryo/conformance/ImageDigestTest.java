package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.api.v1.GetImageInfoRequest;
import dev.cryo.api.v1.ImageServiceGrpc;
import dev.cryo.api.v1.ImageVerification;
import dev.cryo.api.v1.RestoreDomainRequest;
import dev.cryo.api.v1.RestoreDomainResponse;
import dev.cryo.client.AfterSave;
import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.Images;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.SaveOptions;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every image verifies itself, whoever stored it: the bytes of a save stream, written to a file
 * or piped as they come, end with the digest trailer, and a restore checks it before the guest
 * runs. One guest, saved once per codec as a client that just writes the chunks would.
 */
@Timeout(1800)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ImageDigestTest {
  static final String NAME = "digest-guest";
  /** The trailer's record: 72 bytes, the SHA-256 in its last 32. */
  static final int TRAILER = 72;

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;
  static Images images;
  static GuestProbe.Beat booted;
  /** The bytes of a save stream per codec, as any client writing the chunks would have them. */
  static final Map<ImageCompression, byte[]> streamed = new EnumMap<>(ImageCompression.class);
  /**
   * Every codec Cryo writes: all but lzop and libvirt's sparse format, which it only recognizes
   * in others' images.
   */
  static final List<ImageCompression> WRITTEN = Arrays.stream(ImageCompression.values())
      .filter(c -> c != ImageCompression.LZOP && c != ImageCompression.SPARSE).toList();
  /** The guest just before its raw stream was saved: a restore of it carries on from here. */
  static GuestProbe.Beat rawSaved;

  @BeforeAll
  static void bootGuest() throws Exception {
    CliProcess.launcher();
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
    images = cryo.client().images();
    domains.define(GuestProbe.xml(NAME, 128, 8));
    domains.start(NAME);
    booted = GuestProbe.awaitBooted(domains, NAME);
    for (ImageCompression c : WRITTEN) {
      if (c == ImageCompression.RAW) {
        rawSaved = GuestProbe.latest(domains, NAME, booted.checksum());
      }
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      images.save(NAME, out, SaveOptions.defaults().compression(c).after(AfterSave.CONTINUE));
      streamed.put(c, out.toByteArray());
    }
  }

  @AfterAll
  static void stop() throws Exception {
    try {
      LifecycleCleanup.destroyAndUndefine(domains, NAME);
    } finally {
      cryo.close();
    }
  }

  @LocalServer("pipes a guest between two servers")
  @Test
  @Order(1)
  void cliSavePipeRestore_isVerified_andTheGuestCarriesOn() throws Exception {
    // The guest moves to a second server and back: the restore reads the image while the save
    // still runs, so it cannot land on the domain being saved.
    try (CryoTarget b = CryoTarget.start(Files.createDirectories(temp.resolve("b")))) {
      try {
        GuestProbe.Beat before = GuestProbe.latest(domains, NAME, booted.checksum());
        pipe(cryo, b, "zstd");
        before = sameGuestGoesOn(b.client().domains(), before);
        pipe(b, cryo, "raw");
        booted = sameGuestGoesOn(domains, before);
      } finally {
        LifecycleCleanup.destroyAndUndefine(b.client().domains(), NAME);
      }
    }
  }

  /**
   * The same boot goes on with its memory unchanged. The counter is only checked not to go
   * back: after six saves in a row the console's replayed history can make the baseline line
   * stale (measured: baseline 1, the guest's next beat 10).
   */
  static GuestProbe.Beat sameGuestGoesOn(Domains d, GuestProbe.Beat before) {
    try (Console c = d.console(NAME)) {
      c.skipReceived();
      Matcher next = c.awaitLine(GuestProbe.COUNTER, GuestProbe.LINE);
      assertThat(next.group(2)).as("same boot after restore").isEqualTo(before.boot());
      assertThat(Long.parseLong(next.group(1))).as("heartbeat goes on")
          .isGreaterThanOrEqualTo(before.counter());
      c.sendLine("checksum");
      assertThat(c.awaitLine(GuestProbe.CHECKSUM, GuestProbe.LINE).group(1))
          .as("guest memory checksum").isEqualTo(before.checksum());
      return new GuestProbe.Beat(Long.parseLong(next.group(1)), before.boot(), before.checksum());
    }
  }

  /**
   * {@code cryo --target FROM save NAME - --compress C | cryo --target TO restore - --json}: no
   * digest travels beside the bytes, yet the restore is verified.
   */
  static void pipe(CryoTarget from, CryoTarget to, String compress) throws Exception {
    Path restoreOut = temp.resolve("restore-" + compress + ".json");
    Path saveErr = temp.resolve("save-" + compress + ".err");
    Path restoreErr = temp.resolve("restore-" + compress + ".err");
    List<Process> pipeline = ProcessBuilder.startPipeline(List.of(
        cryo(from, "save", NAME, "-", "--compress", compress).redirectError(saveErr.toFile()),
        cryo(to, "restore", "-", "--json").redirectError(restoreErr.toFile())
            .redirectOutput(restoreOut.toFile())));
    try {
      for (Process p : pipeline) {
        assertThat(p.waitFor(300, TimeUnit.SECONDS)).as("pipeline finished").isTrue();
      }
    } finally {
      pipeline.forEach(Process::destroyForcibly);
    }
    assertThat(pipeline.get(0).exitValue()).as(Files.readString(saveErr)).isZero();
    assertThat(pipeline.get(1).exitValue()).as(Files.readString(restoreErr)).isZero();
    JsonObject out = JsonParser.parseString(Files.readString(restoreOut)).getAsJsonObject();
    assertThat(out.get("verified").getAsBoolean()).as("restored from a pipe (%s), verified",
        compress).isTrue();
    assertThat(out.getAsJsonArray("warnings")).isEmpty();
    assertThat(Files.readString(restoreErr)).doesNotContain("no SHA-256");
    assertThat(to.client().domains().get(NAME).state()).isEqualTo(DomainState.RUNNING);
  }

  @Test
  @Order(2)
  void streamedBytes_writtenAsTheyCome_restoreVerified() throws Exception {
    // From a file of those bytes on the server and from a stream without a digest message:
    // both verified by the trailer alone; the guest carries on.
    LifecycleCleanup.destroyAndUndefine(domains, NAME);
    Path file = cryo.imagesDir().resolve("as-written.save");
    Files.write(file, streamed.get(ImageCompression.GZIP));
    var info = info(GetImageInfoRequest.newBuilder().setPath(file.toString()).build());
    assertThat(info.getVerifiable()).isTrue();
    assertThat(info.getSha256()).matches("[0-9a-f]{64}");
    var restored = images.restoreFromServer(file.toString(), RestoreOptions.defaults());
    assertThat(restored.verified()).isTrue();
    assertThat(restored.warnings()).isEmpty();
    domains.destroy(NAME);
    restored = images.restore(new ByteArrayInputStream(streamed.get(ImageCompression.RAW)), null,
        0, RestoreOptions.defaults());
    assertThat(restored.verified()).isTrue();
    assertThat(restored.warnings()).isEmpty();
    GuestProbe.assertCarriesOn(domains, NAME, rawSaved);
  }

  /**
   * A flipped bit anywhere in the payload or in the trailer: DATA_LOSS, no QEMU left, the domain
   * not defined again, the image file untouched. Raw and every codec, from a server file and
   * (for two positions each) from a stream with no digest message.
   */
  @Test
  @Order(3)
  void flippedBit_rawAndEveryCodec_isDataLoss_andTheGuestNeverRuns() throws Exception {
    assertThat(streamed).hasSize(WRITTEN.size());
    LifecycleCleanup.destroyAndUndefine(domains, NAME);
    Map<String, String> table = new LinkedHashMap<>();
    for (ImageCompression c : WRITTEN) {
      byte[] image = streamed.get(c);
      long offset = 92 + ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN).getInt(20);
      int unit = trailerUnitBytes(c, image);
      long payloadEnd = image.length - unit;
      long payload = payloadEnd - offset;
      Map<String, Long> positions = new LinkedHashMap<>();
      positions.put("first byte", offset);
      for (int pct : new int[] {20, 45, 70, 90}) {
        positions.put(pct + "%", offset + payload * pct / 100);
      }
      positions.put("end-3", payloadEnd - 3);
      positions.put(c == ImageCompression.RAW ? "trailer sha256" : "trailer unit",
          c == ImageCompression.RAW ? image.length - 20 : payloadEnd + unit / 2);
      int i = 0;
      for (Map.Entry<String, Long> p : positions.entrySet()) {
        byte[] bad = image.clone();
        bad[Math.toIntExact(p.getValue())] ^= (byte) (1 << (i % 8));
        String fileCode = restoreFile(bad, c + "-" + i);
        String row = "file " + fileCode;
        if (i == 2 || i == positions.size() - 1) {
          row += ", stream " + restoreStream(bad);
        }
        table.put(c + " @ " + p.getKey() + " (" + (p.getValue() - offset) + ")", row);
        i++;
      }
    }
    table.forEach((k, v) -> System.out.println("BITFLIP " + k + " -> " + v));
    assertThat(table.values()).allSatisfy(v -> assertThat(v)
        .matches("file DATA_LOSS(, stream DATA_LOSS)?"));
  }

  /**
   * An image without any digest (a trailer-less copy of a streamed one, as libvirt or an older
   * Cryo writes them) restores with UNVERIFIED, and is refused with FAILED_PRECONDITION when the
   * request or the server requires verified images.
   */
  @LocalServer("starts a second server with --require-verified-images")
  @Test
  @Order(4)
  void unverifiableImage_saysSo_andIsRefusedWhenRequired() throws Exception {
    byte[] image = streamed.get(ImageCompression.RAW);
    byte[] old = Arrays.copyOf(image, image.length - TRAILER);
    Arrays.fill(old, 88, 92, (byte) 0);
    Path file = cryo.imagesDir().resolve("no-digest.save");
    Files.write(file, old);
    assertThat(info(GetImageInfoRequest.newBuilder().setPath(file.toString()).build())
        .getVerifiable()).isFalse();
    assertThat(info(GetImageInfoRequest.newBuilder().setHead(com.google.protobuf.ByteString
        .copyFrom(old, 0, 1 << 20)).build()).getVerifiable()).isFalse();

    // The CLI: image-info from the head of a local file, restore --require-verified.
    Path local = temp.resolve("no-digest.local.save");
    Files.write(local, old);
    Path good = temp.resolve("streamed.local.save");
    Files.write(good, image);
    for (Path p : List.of(local, good)) {
      CliProcess.Result facts = CliProcess.run(cryo.target(), null, "image-info", p.toString(),
          "--json");
      assertThat(facts.exitCode()).as(facts.stderr()).isZero();
      assertThat(JsonParser.parseString(facts.stdout()).getAsJsonObject().get("verifiable")
          .getAsBoolean()).as("verifiable: %s", p.getFileName()).isEqualTo(p.equals(good));
    }
    CliProcess.Result cli = CliProcess.run(cryo.target(), null, "restore", local.toString(),
        "--require-verified");
    assertThat(cli.exitCode()).as(cli.stderr()).isEqualTo(5);
    assertThat(cli.stderr()).contains("cannot be verified");
    assertNothingLeft(cryo);

    StatusRuntimeException refused = restoreRaw(cryo, file, true);
    assertThat(refused.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
    assertThat(refused.getStatus().getDescription()).contains("cannot be verified")
        .contains("require_verified").contains("trailer message");
    assertNothingLeft(cryo);

    try (CryoTarget strict = CryoTarget.start(Files.createDirectories(temp.resolve("strict")),
        List.of("--require-verified-images"))) {
      Path strictFile = strict.imagesDir().resolve("no-digest.save");
      Files.write(strictFile, old);
      StatusRuntimeException byServer = restoreRaw(strict, strictFile, false);
      assertThat(byServer.getStatus().getCode()).isEqualTo(Status.Code.FAILED_PRECONDITION);
      assertThat(byServer.getStatus().getDescription()).contains("--require-verified-images");
      assertNothingLeft(strict);
      // The same image streamed with no digest message: refused before the guest runs.
      try {
        strict.client().images().restore(new ByteArrayInputStream(old), null, 0,
            RestoreOptions.defaults());
        throw new AssertionError("restore of an unverifiable stream succeeded");
      } catch (CryoException e) {
        assertThat(e.code()).isEqualTo(ErrorCode.FAILED_PRECONDITION);
      }
      assertNothingLeft(strict);
      assertThat(strict.client().domains().list(Set.of())).isEmpty();
    }

    RestoreDomainResponse accepted = restoreRawOk(cryo, file);
    assertThat(accepted.getVerification())
        .isEqualTo(ImageVerification.IMAGE_VERIFICATION_UNVERIFIED);
    assertThat(accepted.getVerified()).isFalse();
    assertThat(accepted.getWarningsList()).anyMatch(w -> w.contains("no SHA-256"));
    GuestProbe.assertCarriesOn(domains, NAME, rawSaved);
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** Restores {@code image} from a server file; returns the status code, checks the rest. */
  static String restoreFile(byte[] image, String name) throws Exception {
    Path file = cryo.imagesDir().resolve("flip-" + name + ".save");
    Files.write(file, image);
    String before = sha256(Files.readAllBytes(file));
    String code;
    try {
      images.restoreFromServer(file.toString(), RestoreOptions.defaults());
      code = "RESTORED";
    } catch (CryoException e) {
      code = e.code().name();
    }
    assertNothingLeft(cryo);
    assertThat(sha256(Files.readAllBytes(file))).as("image file untouched").isEqualTo(before);
    Files.delete(file);
    return code;
  }

  /** Restores {@code image} from a client stream with no digest message. */
  static String restoreStream(byte[] image) {
    try {
      images.restore(new ByteArrayInputStream(image), null, 0, RestoreOptions.defaults());
      return "RESTORED";
    } catch (CryoException e) {
      assertNothingLeft(cryo);
      return e.code().name();
    }
  }

  static void assertNothingLeft(CryoTarget t) {
    assertThat(t.client().domains().list(Set.of())).extracting(Domain::name)
        .as("the failed restore defined nothing").doesNotContain(NAME);
    t.assertNoGuestRunning();
  }

  /** Stored bytes of the trailer's codec unit: the shortest suffix that holds the record. */
  static int trailerUnitBytes(ImageCompression c, byte[] image) throws Exception {
    if (c == ImageCompression.RAW) {
      return TRAILER;
    }
    String[] tool = switch (c) {
      case GZIP -> new String[] {"gzip", "-dc"};
      case BZIP2 -> new String[] {"bzip2", "-dc"};
      case XZ -> new String[] {"xz", "-dc"};
      case ZSTD -> new String[] {"zstd", "-dcq"};
      case LZ4 -> null;
      default -> throw new AssertionError(c);
    };
    if (tool == null) {
      // No lz4 tool here: the last lz4 frame magic (the record is too short to hold one).
      for (int n = 16; n < 512; n++) {
        int at = image.length - n;
        if (image[at] == 0x04 && image[at + 1] == 0x22 && image[at + 2] == 0x4d
            && image[at + 3] == 0x18) {
          return n;
        }
      }
      throw new AssertionError("no lz4 frame in the last 512 bytes");
    }
    for (int n = 16; n < 512; n++) {
      Process p = new ProcessBuilder(tool).start();
      p.getOutputStream().write(image, image.length - n, n);
      p.getOutputStream().close();
      byte[] out = p.getInputStream().readAllBytes();
      if (p.waitFor() == 0 && out.length == TRAILER
          && new String(out, 0, 16).equals("CryoImageTrailer")) {
        return n;
      }
    }
    throw new AssertionError("no " + c + " trailer unit in the last 512 bytes");
  }

  static dev.cryo.api.v1.GetImageInfoResponse info(GetImageInfoRequest req) {
    ManagedChannel ch = RawCalls.transport(cryo.target());
    try {
      return ImageServiceGrpc.newBlockingStub(ch).getImageInfo(req);
    } finally {
      ch.shutdownNow();
    }
  }

  /** A file restore through gRPC itself, with {@code require_verified}; expects a refusal. */
  static StatusRuntimeException restoreRaw(CryoTarget t, Path file, boolean requireVerified)
      throws Exception {
    CompletableFuture<RestoreDomainResponse> r = restoreCall(t, file, requireVerified);
    try {
      throw new AssertionError("restore succeeded: " + r.get(120, TimeUnit.SECONDS));
    } catch (java.util.concurrent.ExecutionException e) {
      return (StatusRuntimeException) e.getCause();
    }
  }

  static RestoreDomainResponse restoreRawOk(CryoTarget t, Path file) throws Exception {
    return restoreCall(t, file, false).get(120, TimeUnit.SECONDS);
  }

  static CompletableFuture<RestoreDomainResponse> restoreCall(CryoTarget t, Path file,
      boolean requireVerified) {
    ManagedChannel ch = RawCalls.transport(t.target());
    CompletableFuture<RestoreDomainResponse> result = new CompletableFuture<>();
    result.whenComplete((v, e) -> ch.shutdownNow());
    StreamObserver<RestoreDomainRequest> req = ImageServiceGrpc.newStub(ch).restoreDomain(
        new StreamObserver<>() {
          @Override
          public void onNext(RestoreDomainResponse value) {
            result.complete(value);
          }

          @Override
          public void onError(Throwable e) {
            result.completeExceptionally(e);
          }

          @Override
          public void onCompleted() {
            result.completeExceptionally(new AssertionError("no response"));
          }
        });
    req.onNext(RestoreDomainRequest.newBuilder().setOptions(dev.cryo.api.v1.RestoreOptions
        .newBuilder().setPath(file.toString()).setRequireVerified(requireVerified)).build());
    req.onCompleted();
    return result;
  }

  private static ProcessBuilder cryo(CryoTarget t, String... args) {
    List<String> argv = new ArrayList<>(List.of("bash", CliProcess.launcher().toString(),
        "--target", t.target()));
    argv.addAll(List.of(args));
    ProcessBuilder pb = new ProcessBuilder(argv);
    pb.environment().remove("CRYO_TARGET");
    pb.environment().put("JAVA_HOME", System.getProperty("java.home"));
    return pb;
  }

  static String sha256(byte[] b) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
  }
}
