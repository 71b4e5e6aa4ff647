package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.Empty;
import dev.cryo.api.v1.CheckpointServiceGrpc;
import dev.cryo.api.v1.CheckpointServiceGrpc.CheckpointServiceBlockingStub;
import dev.cryo.api.v1.CreateSnapshotRequest;
import dev.cryo.api.v1.DefineDomainRequest;
import dev.cryo.api.v1.DomainServiceGrpc;
import dev.cryo.api.v1.LeafFilter;
import dev.cryo.api.v1.ListCheckpointsRequest;
import dev.cryo.api.v1.ListCheckpointsResponse;
import dev.cryo.api.v1.ListDomainsRequest;
import dev.cryo.api.v1.ListDomainsResponse;
import dev.cryo.api.v1.ListSnapshotChildrenRequest;
import dev.cryo.api.v1.ListSnapshotChildrenResponse;
import dev.cryo.api.v1.ListSnapshotsRequest;
import dev.cryo.api.v1.ListSnapshotsResponse;
import dev.cryo.api.v1.RedefineCheckpointRequest;
import dev.cryo.api.v1.SnapshotServiceGrpc;
import dev.cryo.api.v1.SnapshotServiceGrpc.SnapshotServiceBlockingStub;
import dev.cryo.api.v1.TreeFilter;
import dev.cryo.client.Checkpoint;
import dev.cryo.client.Checkpoints;
import dev.cryo.client.CryoClient;
import dev.cryo.client.Page;
import dev.cryo.client.Snapshot;
import dev.cryo.client.SnapshotFilter;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Paging (Google AIP-158) of every List RPC and the one tree filter vocabulary snapshots and
 * checkpoints share, on a server with an access file: root owns the domains {@code paged} (250
 * snapshots and 30 checkpoints, recorded with redefine, so no QEMU runs) and {@code shape}; a
 * tenant owns {@code t1..t3}. Each listing is paged with several page sizes and must return every
 * name exactly once, in the documented order, which the test works out on its own.
 */
@Timeout(600)
@LocalServer("starts a server with options of its own")
class PaginationTest {
  private static final String ROOT = "root-" + System.nanoTime();
  private static final String TENANT = "tenant-" + System.nanoTime();
  private static final String PAGED = "paged";
  private static final int SNAPSHOTS = 250;
  private static final int CHECKPOINTS = 30;

  @TempDir static Path temp;
  static ServerProcess server;
  static ManagedChannel transport;
  static Channel root;
  static Channel tenant;
  static CryoClient sdk;
  /** Snapshot names of {@code paged} in topological order, worked out here. */
  static List<String> snapshotOrder;
  static List<String> checkpointOrder;

  @BeforeAll
  static void startServerAndRecordTrees() throws Exception {
    Path access = ServerProcess.accessFile(temp.resolve("access"), """
        # kind  credential  principal  role   domains
        token   sha256:%s   root       admin
        token   sha256:%s   tenant-a   admin  t1,t2,t3
        """.formatted(sha256(ROOT), sha256(TENANT)));
    server = ServerProcess.start(temp.resolve("state"), List.of(
        "--access-file", access.toString()));
    transport = RawCalls.transport(server.target());
    root = RawCalls.channel(transport, ROOT);
    tenant = RawCalls.channel(transport, TENANT);
    sdk = CryoClient.builder().target(server.target()).bearerToken(ROOT).build();
    // Checkpoints need a qcow2 disk holding their bitmaps; redefine checks that they exist.
    Map<String, Path> disks = new LinkedHashMap<>();
    for (String d : List.of(PAGED, "shape")) {
      disks.put(d, TestGuest.createQcow2(temp.resolve(d + ".qcow2"), "16M"));
      DomainServiceGrpc.newBlockingStub(root).defineDomain(DefineDomainRequest.newBuilder()
          .setXml(TestGuest.xml(d, 128, 0, disks.get(d), "qcow2")).build());
    }
    for (String d : List.of("b1", "b2", "b3", "b4")) {
      define(root, d);
    }
    for (String d : List.of("t3", "t1", "t2")) {
      define(tenant, d);
    }

    // A tree where neither creation time nor name order is the listing order: s(i)'s parent is
    // s((i-1)/3), and later snapshots are older, so siblings list in reverse index order.
    Map<String, String> parents = new LinkedHashMap<>();
    Map<String, Long> times = new LinkedHashMap<>();
    for (int i = 0; i < SNAPSHOTS; i++) {
      String name = String.format("s%03d", i);
      String parent = i == 0 ? null : String.format("s%03d", (i - 1) / 3);
      parents.put(name, parent);
      times.put(name, 2_000_000_000L - i);
      snapshots(root).createSnapshot(CreateSnapshotRequest.newBuilder().setDomain(PAGED)
          .setRedefine(true).setXml(snapshotXml(name, parent, times.get(name))).build());
    }
    snapshotOrder = preorder(parents, times);

    Map<String, String> cpParents = new LinkedHashMap<>();
    Map<String, Long> cpTimes = new LinkedHashMap<>();
    for (int i = 0; i < CHECKPOINTS; i++) {
      String name = String.format("c%02d", i);
      String parent = i == 0 ? null : String.format("c%02d", (i - 1) / 2);
      cpParents.put(name, parent);
      cpTimes.put(name, 1_000_000_000L + (i % 2 == 0 ? -i : i));
      addBitmap(disks.get(PAGED), name);
      checkpoints(root).redefineCheckpoint(RedefineCheckpointRequest.newBuilder()
          .setDomain(PAGED).setXml(checkpointXml(name, parent, cpTimes.get(name))).build());
    }
    checkpointOrder = preorder(cpParents, cpTimes);
  }

  @AfterAll
  static void stop() throws Exception {
    if (sdk != null) {
      sdk.close();
    }
    if (transport != null) {
      transport.shutdownNow().awaitTermination(10, java.util.concurrent.TimeUnit.SECONDS);
    }
    if (server != null) {
      server.close();
    }
  }

  @Test
  void listSnapshots_250_everyPageSizeGivesEachNameOnceInOrder() {
    assertThat(snapshotOrder).hasSize(SNAPSHOTS);
    assertThat(snapshotOrder).as("the order is neither by name nor by index")
        .isNotEqualTo(snapshotOrder.stream().sorted().toList());
    for (int size : new int[] {1, 7, 100, 249, 250, 251, 0, 5000}) {
      int perPage = size == 0 ? 1000 : Math.min(size, 1000);
      List<String> seen = pageThrough(token -> {
        ListSnapshotsResponse r = snapshots(root).listSnapshots(ListSnapshotsRequest
            .newBuilder().setDomain(PAGED).setPageSize(size).setPageToken(token).build());
        return new RawPage(r.getSnapshotsList().stream().map(s -> s.getName()).toList(),
            r.getNextPageToken());
      }, perPage, (SNAPSHOTS + perPage - 1) / perPage);
      assertThat(seen).as("page size " + size).containsExactlyElementsOf(snapshotOrder);
    }

    // The SDK pages for the caller, and offers a page at a time.
    assertThat(sdk.snapshots().list(PAGED, SnapshotFilter.ALL)).extracting(Snapshot::name)
        .containsExactlyElementsOf(snapshotOrder);
    Page<Snapshot> first = sdk.snapshots().listPage(PAGED, SnapshotFilter.ALL, 100, "");
    assertThat(first.items()).extracting(Snapshot::name)
        .containsExactlyElementsOf(snapshotOrder.subList(0, 100));
    assertThat(first.hasNext()).isTrue();
    Page<Snapshot> second = sdk.snapshots().listPage(PAGED, SnapshotFilter.ALL, 200,
        first.nextPageToken());
    assertThat(second.items()).extracting(Snapshot::name)
        .containsExactlyElementsOf(snapshotOrder.subList(100, 250));
    assertThat(second.hasNext()).isFalse();
  }

  @Test
  void listSnapshots_filteredAndChildren_pagedLikeUnpaged() {
    TreeFilter under = TreeFilter.newBuilder().setDescendantsOf("s001")
        .setLeaves(LeafFilter.LEAF_FILTER_LEAVES_ONLY).build();
    List<String> whole = snapshots(root).listSnapshots(ListSnapshotsRequest.newBuilder()
        .setDomain(PAGED).setTree(under).build()).getSnapshotsList().stream()
        .map(s -> s.getName()).toList();
    assertThat(whole).hasSizeBetween(10, SNAPSHOTS - 10);
    assertThat(whole).isSubsetOf(snapshotOrder);
    List<String> paged = pageThrough(token -> {
      ListSnapshotsResponse r = snapshots(root).listSnapshots(ListSnapshotsRequest.newBuilder()
          .setDomain(PAGED).setTree(under).setPageSize(9).setPageToken(token).build());
      return new RawPage(r.getSnapshotsList().stream().map(s -> s.getName()).toList(),
          r.getNextPageToken());
    }, 9, (whole.size() + 8) / 9);
    assertThat(paged).containsExactlyElementsOf(whole);

    // s000's children, youngest index first (they are older): s003, s002, s001.
    List<String> children = pageThrough(token -> {
      ListSnapshotChildrenResponse r = snapshots(root).listSnapshotChildren(
          ListSnapshotChildrenRequest.newBuilder().setDomain(PAGED).setName("s000")
              .setPageSize(1).setPageToken(token).build());
      return new RawPage(r.getSnapshotsList().stream().map(s -> s.getName()).toList(),
          r.getNextPageToken());
    }, 1, 3);
    assertThat(children).containsExactly("s003", "s002", "s001");
    assertThat(sdk.snapshots().children(PAGED, "s000")).extracting(Snapshot::name)
        .containsExactly("s003", "s002", "s001");
  }

  @Test
  void listSnapshots_badPaging_isInvalidArgumentSayingWhatToDo() {
    ListSnapshotsRequest base = ListSnapshotsRequest.newBuilder().setDomain(PAGED)
        .setPageSize(10).build();
    String token = snapshots(root).listSnapshots(base).getNextPageToken();
    assertThat(token).isNotEmpty();

    assertInvalid(() -> snapshots(root).listSnapshots(base.toBuilder().setPageSize(-1).build()),
        "page_size -1 is negative");
    assertInvalid(() -> snapshots(root).listSnapshots(base.toBuilder()
        .setPageToken(token.substring(0, token.length() - 4)).build()),
        "leave page_token empty");
    assertInvalid(() -> snapshots(root).listSnapshots(base.toBuilder()
        .setPageToken("garbage!").build()), "not a token this server issued");
    assertInvalid(() -> snapshots(root).listSnapshots(base.toBuilder()
        .setTree(TreeFilter.newBuilder().setRoots(Empty.getDefaultInstance()))
        .setPageToken(token).build()), "made for a different request");
    assertInvalid(() -> snapshots(root).listSnapshots(base.toBuilder().setDomain("shape")
        .setPageToken(token).build()), "made for a different request");
    // Only page_size may change from page to page.
    assertThat(snapshots(root).listSnapshots(base.toBuilder().setPageSize(3)
        .setPageToken(token).build()).getSnapshotsList()).extracting(s -> s.getName())
        .containsExactlyElementsOf(snapshotOrder.subList(10, 13));
  }

  @Test
  void listCheckpoints_pagedEachOnceInOrder() {
    assertThat(checkpointOrder).hasSize(CHECKPOINTS);
    for (int size : new int[] {1, 4, 29, 30, 0}) {
      int perPage = size == 0 ? 1000 : size;
      List<String> seen = pageThrough(token -> {
        ListCheckpointsResponse r = checkpoints(root).listCheckpoints(ListCheckpointsRequest
            .newBuilder().setDomain(PAGED).setPageSize(size).setPageToken(token).build());
        return new RawPage(r.getCheckpointsList().stream().map(c -> c.getName()).toList(),
            r.getNextPageToken());
      }, perPage, (CHECKPOINTS + perPage - 1) / perPage);
      assertThat(seen).as("page size " + size).containsExactlyElementsOf(checkpointOrder);
    }
    assertThat(sdk.checkpoints().list(PAGED)).extracting(Checkpoint::name)
        .containsExactlyElementsOf(checkpointOrder);
    Page<Checkpoint> page = sdk.checkpoints().listPage(PAGED, Checkpoints.Filter.ALL, 4, null);
    assertThat(page.items()).extracting(Checkpoint::name)
        .containsExactlyElementsOf(checkpointOrder.subList(0, 4));
  }

  @Test
  void listDomains_pagesOnlyWhatTheCallerSees() {
    List<String> rootSees = pageThrough(token -> domainsPage(root, 2, token), 2, 5);
    assertThat(rootSees).containsExactly("b1", "b2", "b3", "b4", PAGED, "shape", "t1", "t2",
        "t3");
    List<String> tenantSees = pageThrough(token -> domainsPage(tenant, 1, token), 1, 3);
    assertThat(tenantSees).containsExactly("t1", "t2", "t3");

    String rootToken = domainsPage(root, 2, "").next();
    assertInvalid(() -> domainsPage(tenant, 2, rootToken), "same caller");
    assertThat(sdk.domains().list(java.util.Set.of())).hasSize(9);
    Page<dev.cryo.client.Domain> one = sdk.domains().listPage(java.util.Set.of(), 4, "");
    assertThat(one.items()).extracting(dev.cryo.client.Domain::name)
        .containsExactly("b1", "b2", "b3", "b4");
    assertThatThrownBy(() -> snapshots(tenant).listSnapshots(ListSnapshotsRequest.newBuilder()
        .setDomain(PAGED).setPageSize(1).build()))
        .extracting(e -> Status.fromThrowable(e).getCode()).isEqualTo(Status.Code.NOT_FOUND);
  }

  /**
   * The same tree as snapshots and as checkpoints; every TreeFilter gives the same names on both
   * RPCs, and the fields TreeFilter replaces give the same answers as TreeFilter.
   *
   * <pre>
   * r1 (100)            r2 (400)
   * ├── a (200)         └── c (500)
   * │   ├── a1 (300)
   * │   └── a2 (310)
   * └── b (250)
   * </pre>
   */
  @Test
  void treeFilter_sameAnswerOnSnapshotsAndCheckpoints() throws Exception {
    String[][] tree = {{"r1", null, "100"}, {"a", "r1", "200"}, {"b", "r1", "250"},
        {"a1", "a", "300"}, {"a2", "a", "310"}, {"r2", null, "400"}, {"c", "r2", "500"}};
    Path shapeDisk = temp.resolve("shape.qcow2");
    for (String[] m : tree) {
      addBitmap(shapeDisk, m[0]);
      snapshots(root).createSnapshot(CreateSnapshotRequest.newBuilder().setDomain("shape")
          .setRedefine(true).setXml(snapshotXml(m[0], m[1], Long.parseLong(m[2]))).build());
      checkpoints(root).redefineCheckpoint(RedefineCheckpointRequest.newBuilder()
          .setDomain("shape").setXml(checkpointXml(m[0], m[1], Long.parseLong(m[2]))).build());
    }
    Empty roots = Empty.getDefaultInstance();
    Map<TreeFilter, List<String>> expected = new LinkedHashMap<>();
    expected.put(TreeFilter.getDefaultInstance(), List.of("r1", "a", "a1", "a2", "b", "r2", "c"));
    expected.put(TreeFilter.newBuilder().setRoots(roots).build(), List.of("r1", "r2"));
    expected.put(TreeFilter.newBuilder().setChildrenOf("r1").build(), List.of("a", "b"));
    expected.put(TreeFilter.newBuilder().setDescendantsOf("r1").build(),
        List.of("a", "a1", "a2", "b"));
    expected.put(TreeFilter.newBuilder().setLeaves(LeafFilter.LEAF_FILTER_LEAVES_ONLY).build(),
        List.of("a1", "a2", "b", "c"));
    expected.put(TreeFilter.newBuilder().setLeaves(LeafFilter.LEAF_FILTER_NO_LEAVES).build(),
        List.of("r1", "a", "r2"));
    expected.put(TreeFilter.newBuilder().setDescendantsOf("r1")
        .setLeaves(LeafFilter.LEAF_FILTER_NO_LEAVES).build(), List.of("a"));
    expected.put(TreeFilter.newBuilder().setChildrenOf("a")
        .setLeaves(LeafFilter.LEAF_FILTER_LEAVES_ONLY).build(), List.of("a1", "a2"));
    expected.put(TreeFilter.newBuilder().setRoots(roots)
        .setLeaves(LeafFilter.LEAF_FILTER_LEAVES_ONLY).build(), List.of());
    for (Map.Entry<TreeFilter, List<String>> e : expected.entrySet()) {
      assertThat(snapshotNames(ListSnapshotsRequest.newBuilder().setTree(e.getKey())))
          .as("snapshots, " + e.getKey()).containsExactlyElementsOf(e.getValue());
      assertThat(checkpointNames(ListCheckpointsRequest.newBuilder().setTree(e.getKey())))
          .as("checkpoints, " + e.getKey()).containsExactlyElementsOf(e.getValue());
    }

    // The deprecated fields still work and mean the same.
    assertThat(snapshotNames(ListSnapshotsRequest.newBuilder().setRoots(true)))
        .containsExactly("r1", "r2");
    assertThat(checkpointNames(ListCheckpointsRequest.newBuilder().setRootsOnly(true)))
        .containsExactly("r1", "r2");
    assertThat(snapshotNames(ListSnapshotsRequest.newBuilder().setDescendantsOf("r1")
        .setDirectChildrenOnly(true))).containsExactly("a", "b");
    assertThat(checkpointNames(ListCheckpointsRequest.newBuilder().setParent("r1")
        .setRootsOnly(true))).containsExactly("a", "b");
    assertThat(checkpointNames(ListCheckpointsRequest.newBuilder().setParent("r1")
        .setNoLeaves(true))).containsExactly("a");
    assertThat(snapshotNames(ListSnapshotsRequest.newBuilder().setLeaves(true)))
        .containsExactly("a1", "a2", "b", "c");

    // Both at once, an empty name, an unknown one: the same answer on both services.
    assertInvalid(() -> snapshotNames(ListSnapshotsRequest.newBuilder().setRoots(true)
        .setTree(TreeFilter.newBuilder().setRoots(roots))), "not both");
    assertInvalid(() -> checkpointNames(ListCheckpointsRequest.newBuilder().setRootsOnly(true)
        .setTree(TreeFilter.newBuilder().setRoots(roots))), "not both");
    assertInvalid(() -> snapshotNames(ListSnapshotsRequest.newBuilder()
        .setTree(TreeFilter.newBuilder().setChildrenOf(""))), "tree.children_of needs");
    assertInvalid(() -> checkpointNames(ListCheckpointsRequest.newBuilder()
        .setTree(TreeFilter.newBuilder().setChildrenOf(""))), "tree.children_of needs");
    for (Runnable unknown : List.<Runnable>of(
        () -> snapshotNames(ListSnapshotsRequest.newBuilder()
            .setTree(TreeFilter.newBuilder().setDescendantsOf("nope"))),
        () -> checkpointNames(ListCheckpointsRequest.newBuilder()
            .setTree(TreeFilter.newBuilder().setDescendantsOf("nope"))))) {
      assertThatThrownBy(unknown::run).extracting(e -> Status.fromThrowable(e).getCode())
          .isEqualTo(Status.Code.NOT_FOUND);
    }
  }

  // ---- helpers ------------------------------------------------------------------------------

  private record RawPage(List<String> names, String next) {}

  /**
   * Pages through a listing: every page but the last is full and has a token, the last has
   * none, and it takes {@code pages} calls.
   */
  private static List<String> pageThrough(Function<String, RawPage> call, int perPage,
      int pages) {
    List<String> seen = new ArrayList<>();
    String token = "";
    int calls = 0;
    while (true) {
      RawPage p = call.apply(token);
      calls++;
      assertThat(calls).as("calls").isLessThanOrEqualTo(Math.max(1, pages));
      seen.addAll(p.names());
      if (p.next().isEmpty()) {
        break;
      }
      assertThat(p.names()).as("a page before the last is full").hasSize(perPage);
      token = p.next();
    }
    assertThat(calls).as("calls").isEqualTo(Math.max(1, pages));
    return seen;
  }

  private static RawPage domainsPage(Channel who, int size, String token) {
    ListDomainsResponse r = DomainServiceGrpc.newBlockingStub(who)
        .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS)
        .listDomains(ListDomainsRequest.newBuilder().setPageSize(size).setPageToken(token)
            .build());
    return new RawPage(r.getDomainsList().stream().map(d -> d.getName()).toList(),
        r.getNextPageToken());
  }

  private static List<String> snapshotNames(ListSnapshotsRequest.Builder req) {
    return snapshots(root).listSnapshots(req.setDomain("shape").build()).getSnapshotsList()
        .stream().map(s -> s.getName()).toList();
  }

  private static List<String> checkpointNames(ListCheckpointsRequest.Builder req) {
    return checkpoints(root).listCheckpoints(req.setDomain("shape").build())
        .getCheckpointsList().stream().map(c -> c.getName()).toList();
  }

  private static void assertInvalid(Runnable call, String message) {
    assertThatThrownBy(call::run).isInstanceOf(StatusRuntimeException.class)
        .satisfies(e -> {
          Status s = Status.fromThrowable(e);
          assertThat(s.getCode()).as(s.toString()).isEqualTo(Status.Code.INVALID_ARGUMENT);
          assertThat(s.getDescription()).contains(message);
        });
  }

  /** Depth first, parents before children, siblings by creation time then name. */
  private static List<String> preorder(Map<String, String> parents, Map<String, Long> times) {
    Comparator<String> siblings = Comparator.comparing((String n) -> times.get(n))
        .thenComparing(n -> n);
    List<String> out = new ArrayList<>();
    visit(null, parents, siblings, out);
    return out;
  }

  private static void visit(String node, Map<String, String> parents,
      Comparator<String> siblings, List<String> out) {
    List<String> kids = parents.entrySet().stream()
        .filter(e -> java.util.Objects.equals(e.getValue(), node)).map(Map.Entry::getKey)
        .sorted(siblings).toList();
    for (String k : kids) {
      out.add(k);
      visit(k, parents, siblings, out);
    }
  }

  private static String snapshotXml(String name, String parent, long time) {
    return "<domainsnapshot><name>" + name + "</name><state>shutoff</state>"
        + (parent == null ? "" : "<parent><name>" + parent + "</name></parent>")
        + "<creationTime>" + time + "</creationTime></domainsnapshot>";
  }

  private static String checkpointXml(String name, String parent, long time) {
    return "<domaincheckpoint><name>" + name + "</name>"
        + (parent == null ? "" : "<parent><name>" + parent + "</name></parent>")
        + "<creationTime>" + time + "</creationTime><disks><disk name='vda' "
        + "checkpoint='bitmap' bitmap='" + name + "'/></disks></domaincheckpoint>";
  }

  private static void addBitmap(Path disk, String bitmap) throws Exception {
    assertThat(BackupGuest.qemuImg("bitmap", "--add", disk.toString(), bitmap))
        .as("qemu-img bitmap --add " + bitmap).isZero();
  }

  private static void define(Channel who, String name) throws Exception {
    DomainServiceGrpc.newBlockingStub(who).defineDomain(DefineDomainRequest.newBuilder()
        .setXml(TestGuest.xml(name, 128, 0, null, null)).build());
  }

  private static SnapshotServiceBlockingStub snapshots(Channel who) {
    return SnapshotServiceGrpc.newBlockingStub(who)
        .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
  }

  private static CheckpointServiceBlockingStub checkpoints(Channel who) {
    return CheckpointServiceGrpc.newBlockingStub(who)
        .withDeadlineAfter(60, java.util.concurrent.TimeUnit.SECONDS);
  }

  private static String sha256(String s) throws Exception {
    return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
        .digest(s.getBytes(StandardCharsets.UTF_8)));
  }
}
