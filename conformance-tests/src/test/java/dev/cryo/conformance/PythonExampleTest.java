package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.client.DomainEvent;
import dev.cryo.client.ImageCompression;
import dev.cryo.client.ImageInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Python example in {@code examples/python}, its stubs generated from {@code proto/} at run
 * time with Debian's protoc and gRPC plugin, drives a real server: it lists and pages through
 * domains, boots the test guest, reads its heartbeat, saves it as a stream into a local file,
 * restores it and sees the heartbeat carry on. What it reports is checked against the file it
 * wrote and against the server's own event stream, watched here through the Java SDK.
 */
@Timeout(600)
class PythonExampleTest {
  /** Debian's interpreter: python3-grpcio lives in its dist-packages, not in a pyenv/venv one. */
  private static final String PYTHON = Files.isExecutable(Path.of("/usr/bin/python3"))
      ? "/usr/bin/python3" : "python3";

  @TempDir static Path temp;
  static CryoTarget cryo;
  static Path example;

  @BeforeAll
  static void setUp() throws Exception {
    Path root = Path.of(System.getProperty("cryo.repo.root", "..")).toAbsolutePath();
    example = root.resolve("examples/python");
    // Fails loudly, naming the packages, on a machine scripts/test did not prepare.
    run(example, List.of(PYTHON, "-c", "import grpc, google.protobuf"), 60);
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
  }

  @AfterAll
  static void tearDown() throws Exception {
    if (cryo != null) {
      cryo.close();
    }
  }

  @Test
  void tour_pythonClientPagesSavesToFileRestoresAndGuestCarriesOn() throws Exception {
    Path guest = TestGuest.dir();
    Path image = temp.resolve("python.save");
    Path stubs = temp.resolve("gen");
    List<DomainEvent> events = new CopyOnWriteArrayList<>();
    String out;
    try (AutoCloseable watch = cryo.client().domains().watch(null, events::add)) {
      out = run(example, List.of(PYTHON, "tour.py", "--target", cryo.target(),
          "--kernel", guest.resolve("vmlinuz").toString(),
          "--initrd", guest.resolve("initramfs.img").toString(),
          "--file", image.toString(), "--build-dir", stubs.toString()), 480);
    }
    System.out.println(out); // the example's own account, for whoever reads the CI log
    String last = out.strip().lines().reduce((a, b) -> b).orElseThrow();
    JsonObject summary = JsonParser.parseString(last).getAsJsonObject();
    String name = summary.get("domain").getAsString();

    // The stubs were generated at run time, from proto/, into the folder we gave.
    assertThat(stubs.resolve("cryo/v1/image_pb2_grpc.py")).as(out).isRegularFile();

    // Paging: every domain defined for it shows up once; with page_size in the API, in pages.
    List<String> paged = strings(summary.getAsJsonArray("pagedNames"));
    List<String> extras = strings(summary.getAsJsonArray("pagingDomains"));
    assertThat(extras).hasSize(3);
    assertThat(paged).as(out).containsAll(extras).doesNotHaveDuplicates();
    boolean pagedApi = ListDomainsRequest.getDescriptor().findFieldByName("page_token") != null;
    assertThat(summary.get("pagedApi").getAsBoolean()).isEqualTo(pagedApi);
    int pages = summary.get("pages").getAsInt();
    int pageSize = summary.get("pageSize").getAsInt();
    if (pagedApi) {
      assertThat(pages).as(out).isGreaterThanOrEqualTo((paged.size() + pageSize - 1) / pageSize);
    } else {
      assertThat(pages).as("no paging in the API yet: one page holds all").isEqualTo(1);
    }

    // The heartbeat before the save continues after the restore: same boot, counter goes on.
    assertThat(summary.get("heartbeat").getAsString()).matches("COUNTER \\d+ boot=\\S+");
    assertThat(summary.get("bootAfter").getAsString()).as("same boot after restore")
        .isEqualTo(summary.get("bootBefore").getAsString());
    long before = summary.get("counterBefore").getAsLong();
    assertThat(summary.get("counterAfter").getAsLong()).as("heartbeat continues")
        .isBetween(before + 1, before + 30);
    assertThat(summary.get("savedState").getAsString()).isEqualTo("DOMAIN_STATE_SHUTOFF");
    assertThat(summary.get("restoredState").getAsString()).isEqualTo("DOMAIN_STATE_RUNNING");
    assertThat(summary.get("verified").getAsBoolean()).as("the trailer's digest matched")
        .isTrue();
    assertThat(summary.get("finalState").getAsString()).isEqualTo("DOMAIN_STATE_SHUTOFF");

    // The file the Python client wrote is the whole image: its size is the save's, its header a
    // libvirt QEMU save image's, and the Java SDK reads the guest's facts from its first bytes.
    assertThat(Files.size(image)).as(out).isEqualTo(summary.get("imageBytes").getAsLong())
        .isEqualTo(summary.get("summaryImageBytes").getAsLong()).isGreaterThan(1 << 20);
    byte[] head;
    try (InputStream in = Files.newInputStream(image)) {
      head = in.readNBytes(1 << 20);
    }
    assertThat(new String(head, 0, 16, StandardCharsets.US_ASCII)).isEqualTo("LibvirtQemudSave");
    ImageInfo info = cryo.client().images().infoOfHead(head);
    assertThat(info.xml()).contains("<name>" + name + "</name>");
    assertThat(info.compression()).isEqualTo(ImageCompression.ZSTD);
    assertThat(info.wasRunning()).isTrue();

    // The server saw each step, and nothing the example created is left.
    assertThat(events).filteredOn(e -> e.name().equals(name)).extracting(DomainEvent::type)
        .containsSubsequence(DomainEvent.Type.DEFINED, DomainEvent.Type.STARTED,
            DomainEvent.Type.STOPPED, DomainEvent.Type.STARTED, DomainEvent.Type.STOPPED,
            DomainEvent.Type.UNDEFINED);
    List<String> names = new ArrayList<>(extras);
    names.add(name);
    assertThat(cryo.client().domains().list(Set.of())).extracting(d -> d.name())
        .doesNotContainAnyElementsOf(names);
  }

  private static List<String> strings(JsonArray array) {
    List<String> out = new ArrayList<>();
    for (JsonElement e : array) {
      out.add(e.getAsString());
    }
    return out;
  }

  /** Runs a command in {@code dir}; returns its output or fails with it. */
  private static String run(Path dir, List<String> argv, int timeoutSeconds)
      throws IOException, InterruptedException {
    ProcessBuilder pb = new ProcessBuilder(argv).directory(dir.toFile())
        .redirectErrorStream(true);
    // No __pycache__ in the source tree.
    pb.environment().putAll(Map.of("PYTHONDONTWRITEBYTECODE", "1", "PYTHONUNBUFFERED", "1"));
    Process p;
    try {
      p = pb.start();
    } catch (IOException e) {
      throw new IOException(argv.get(0) + " is not installed; the Python example needs python3 "
          + "with python3-grpcio, protobuf-compiler-grpc and libprotobuf-dev (scripts/test "
          + "installs them)", e);
    }
    // Output is small (a dozen lines): read it all, then wait.
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      throw new AssertionError(argv + " did not finish in " + timeoutSeconds + " s:\n" + out);
    }
    assertThat(p.exitValue()).as(argv + " output:\n" + out).isZero();
    return out;
  }
}
