package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.cryo.client.CryoException;
import dev.cryo.client.CryoException.ErrorCode;
import dev.cryo.client.CryoException.Reason;
import dev.cryo.client.Defined;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainConfig;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.StateReason;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import org.assertj.core.api.ThrowableAssert.ThrowingCallable;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Every domain error case returns its exact gRPC code and a message that says what to change. */
@Timeout(300)
class DomainErrorsTest {
  @TempDir static Path temp;
  static CryoTarget cryo;
  static Domains domains;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(temp);
    domains = cryo.client().domains();
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  static CryoException assertCode(ThrowingCallable call, ErrorCode code, String messagePart) {
    assertThatThrownBy(call).isInstanceOf(CryoException.class)
        .satisfies(e -> assertThat(((CryoException) e).code()).isEqualTo(code))
        .hasMessageContaining(messagePart);
    return (CryoException) catchThrowable(call);
  }

  /** As {@link #assertCode}, and the server's machine-readable reason is {@code reason}. */
  static CryoException assertReason(
      ThrowingCallable call, ErrorCode code, Reason reason, String messagePart) {
    CryoException e = assertCode(call, code, messagePart);
    assertThat(e.reason()).as(e.getMessage()).isEqualTo(reason);
    return e;
  }

  @Test
  void unknownDomain_isNotFound() {
    String name = "no-such-domain";
    for (Consumer<String> op : java.util.List.<Consumer<String>>of(domains::get,
        domains::start, domains::suspend, domains::resume, domains::destroy, domains::undefine,
        domains::xml, n -> domains.shutdown(n, Duration.ofSeconds(1)),
        n -> domains.console(n).awaitLine(java.util.regex.Pattern.compile("x"),
            Duration.ofSeconds(30)))) {
      CryoException e =
          assertReason(
              () -> op.accept(name),
              ErrorCode.NOT_FOUND,
              Reason.DOMAIN_NOT_FOUND,
              "no domain named 'no-such-domain'");
      assertThat(e.metadata()).containsEntry("domain", name);
    }
  }

  @Test
  void define_sameNameOtherUuid_isAlreadyExists() throws Exception {
    String name = "dup-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 64, 0, null, null));
    try {
      assertReason(
          () -> domains.define(TestGuest.xml(name, 64, 0, null, null)),
          ErrorCode.ALREADY_EXISTS,
          Reason.DOMAIN_EXISTS,
          "already exists with UUID");
    } finally {
      domains.undefine(name);
    }
  }

  @Test
  void define_uuidOfAnotherDomain_isAlreadyExists() throws Exception {
    String name = "uuid-a-" + System.nanoTime();
    String uuid = domains.define(TestGuest.xml(name, 64, 0, null, null)).domain().uuid();
    try {
      String other = TestGuest.xml("uuid-b-" + System.nanoTime(), 64, 0, null, null)
          .replaceFirst("<uuid>[^<]+</uuid>", "<uuid>" + uuid + "</uuid>");
      assertCode(() -> domains.define(other), ErrorCode.ALREADY_EXISTS, "already belongs");
    } finally {
      domains.undefine(name);
    }
  }

  @Test
  void define_malformedXml_namesLineAndElement() {
    String xml = "<domain type='kvm'>\n  <name>x</name>\n  <memory>64\n</domain>";
    CryoException e =
        assertReason(
            () -> domains.define(xml),
            ErrorCode.INVALID_ARGUMENT,
            Reason.DOMAIN_XML_INVALID,
            "line 4");
    assertThat(e.field()).isEqualTo("xml");
    assertCode(() -> domains.define(xml), ErrorCode.INVALID_ARGUMENT, "memory");
  }

  @Test
  void define_dtdAndExternalEntity_areRefused() {
    String xxe = "<?xml version='1.0'?>\n<!DOCTYPE domain [<!ENTITY x SYSTEM "
        + "'file:///etc/passwd'>]>\n<domain type='kvm'><name>&x;</name>"
        + "<memory>65536</memory></domain>";
    assertReason(
        () -> domains.define(xxe), ErrorCode.INVALID_ARGUMENT, Reason.DOMAIN_XML_INVALID, "DTD");
  }

  @Test
  void define_badNames_areInvalidArgument() throws Exception {
    for (String bad : new String[] {"a/b", "..", ".hidden", "nul\0byte", "x".repeat(300)}) {
      String xml = TestGuest.xml("placeholder", 64, 0, null, null)
          .replace("<name>placeholder</name>", "<name>" + bad.replace("\0", "&#0;") + "</name>");
      assertThatThrownBy(() -> domains.define(xml)).isInstanceOf(CryoException.class)
          .satisfies(e -> assertThat(((CryoException) e).code())
              .as("name %s", bad.length() > 20 ? bad.length() + " chars" : bad)
              .isEqualTo(ErrorCode.INVALID_ARGUMENT));
    }
    assertThat(domains.list(Set.of())).extracting(Domain::name)
        .noneMatch(n -> n.contains("/") || n.startsWith("."));
  }

  @Test
  void define_filesOutsideImageFolders_arePermissionDenied() throws Exception {
    Path escape = temp.resolve("escape.qcow2");
    java.nio.file.Files.deleteIfExists(escape);
    java.nio.file.Files.createSymbolicLink(escape, Path.of("/etc/passwd"));
    for (Path hostile : new Path[] {Path.of("/etc/passwd"), escape, Path.of("/dev/null"),
        temp.resolve("../../etc/shadow")}) {
      String xml = TestGuest.xml("escape-" + System.nanoTime(), 64, 0, hostile, "raw");
      assertReason(
          () -> domains.define(xml),
          ErrorCode.PERMISSION_DENIED,
          Reason.PATH_NOT_ALLOWED,
          "disk vda source");
    }
    String kernel = TestGuest.xml("kernel-" + System.nanoTime(), 64, 0, null, null)
        .replaceFirst("<kernel>[^<]+</kernel>", "<kernel>/boot/../etc/hostname</kernel>");
    assertCode(() -> domains.define(kernel), ErrorCode.PERMISSION_DENIED, "kernel");
    assertThat(domains.list(Set.of())).extracting(Domain::name)
        .noneMatch(n -> n.startsWith("escape-") || n.startsWith("kernel-"));
  }

  @Test
  void lifecycleOnShutoffDomain_isFailedPrecondition() throws Exception {
    String name = "off-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 64, 0, null, null));
    try {
      assertReason(
          () -> domains.suspend(name),
          ErrorCode.FAILED_PRECONDITION,
          Reason.DOMAIN_STATE,
          "not running");
      assertCode(() -> domains.resume(name), ErrorCode.FAILED_PRECONDITION, "not running");
      assertCode(() -> domains.destroy(name), ErrorCode.FAILED_PRECONDITION, "not running");
      assertCode(() -> domains.shutdown(name, Duration.ofSeconds(1)),
          ErrorCode.FAILED_PRECONDITION, "not running");
    } finally {
      domains.undefine(name);
    }
  }

  @Test
  void start_missingDisk_failsAndLeavesNothing() throws Exception {
    String name = "nodisk-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 64, 0, temp.resolve("missing.qcow2"), "qcow2"));
    try {
      assertCode(() -> domains.start(name), ErrorCode.FAILED_PRECONDITION, "does not exist");
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      cryo.assertNoGuestRunning();
    } finally {
      domains.undefine(name);
    }
  }

  @Test
  void undefine_activeDomain_isFailedPrecondition() throws Exception {
    String name = "active-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 64, 0, null, null));
    try {
      domains.start(name, true, false);
      assertReason(
          () -> domains.undefine(name),
          ErrorCode.FAILED_PRECONDITION,
          Reason.DOMAIN_STATE,
          "destroy");
      assertCode(() -> domains.start(name), ErrorCode.FAILED_PRECONDITION, "already");
      assertCode(() -> domains.suspend(name), ErrorCode.FAILED_PRECONDITION, "already paused");
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
    }
  }

  @Test
  void shutdown_guestThatIgnoresAcpi_isDeadlineExceededAndKeepsRunning() throws Exception {
    String name = "deaf-" + System.nanoTime();
    domains.define(TestGuest.xml(name, 64, 0, null, null));
    try {
      // Paused CPUs cannot answer the power button: the guest "ignores" ACPI.
      domains.start(name, true, false);
      assertCode(() -> domains.shutdown(name, Duration.ofSeconds(2)),
          ErrorCode.DEADLINE_EXCEEDED, "DestroyDomain");
      assertThat(domains.get(name).state()).isEqualTo(DomainState.PAUSED);
    } finally {
      DomainLifecycleTest.destroyQuietly(domains, name);
      domains.undefine(name);
    }
  }

  @Test
  void define_structuredConfig_roundTripsThroughXml() throws Exception {
    Path dir = TestGuest.dir();
    String name = "config-" + System.nanoTime();
    Domain d = domains.define(DomainConfig.builder(name).memoryMib(96).vcpus(1)
        .kernel(dir.resolve("vmlinuz").toString(), dir.resolve("initramfs.img").toString(),
            "console=ttyS0 quiet")
        .metadataXml("<app:owner xmlns:app='urn:example'>ci</app:owner>")
        .build());
    try {
      assertThat(d.memoryBytes()).isEqualTo(96L << 20);
      assertThat(UUID.fromString(d.uuid())).isNotNull();
      String xml = domains.xml(name);
      assertThat(xml).contains("<name>" + name + "</name>").contains("urn:example")
          .contains("console=ttyS0 quiet");
      Defined again = domains.define(xml);
      assertThat(again.warnings()).isEmpty();
      assertThat(domains.xml(name)).isEqualTo(xml);
    } finally {
      domains.undefine(name);
    }
  }

  @Test
  void define_unsupportedElements_areReportedAsWarnings() throws Exception {
    String name = "warn-" + System.nanoTime();
    String xml = TestGuest.xml(name, 64, 0, null, null)
        .replace("<devices>", "<devices>\n    <sound model='ich6'/>");
    Defined defined = domains.define(xml);
    try {
      assertThat(defined.warnings()).anyMatch(w -> w.contains("/domain/devices/sound"));
      assertThat(defined.domain().reason()).isEqualTo(StateReason.DEFINED);
    } finally {
      domains.undefine(name);
    }
  }
}
