package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.Domain;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.SaveOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A guest's CPU and memory as libvirt's XML asks for them, seen from inside the guest and through
 * GetDomain: a named QEMU CPU model with a topology, and a {@code <currentMemory>} below {@code
 * <memory>} reached by the virtio balloon; both survive a save and restore. A CPU model QEMU does
 * not know, and the host's CPU under TCG, are refused with their own reasons.
 */
@Timeout(600)
class CpuMemoryTest {
  static final Pattern CPUS = Pattern.compile("^CPUS (\\d+) (.*)$");
  static final Pattern MEM = Pattern.compile("^MEM (\\d+)$");
  static final long MEMORY = 128L << 20;
  static final long CURRENT = 96L << 20;

  @TempDir static Path temp;
  static CryoTarget cryo;

  @BeforeAll
  static void startServer() throws Exception {
    TestGuest.dir();
    cryo = CryoTarget.start(Files.createDirectories(temp.resolve("state")));
  }

  @AfterAll
  static void stopServer() throws Exception {
    cryo.close();
  }

  /** The test guest with 2 vCPUs, {@code cpu} and a balloon that leaves it 96 of its 128 MiB. */
  private static String xml(String name, String type, String cpu) throws Exception {
    String xml = TestGuest.xml(name, 128, 8, null, null)
        .replace("<vcpu>1</vcpu>", "<currentMemory unit='MiB'>96</currentMemory>\n"
            + "  <vcpu>2</vcpu>\n  " + cpu)
        .replace("<memballoon model='none'/>", "<memballoon model='virtio'/>")
        .replace("<domain type='kvm'>", "<domain type='" + type + "'>");
    assertThat(xml).contains("<vcpu>2</vcpu>").contains("model='virtio'");
    return xml;
  }

  @Test
  void namedModelTopologyAndBalloon_seenInsideAndKeptAcrossSaveRestore() throws Exception {
    String name = "cpu-mem";
    Domains domains = cryo.client().domains();
    try {
      domains.define(xml(name, "kvm", "<cpu mode='custom' match='exact'>"
          + "<model fallback='forbid'>Westmere</model>"
          + "<topology sockets='1' cores='2' threads='1'/></cpu>"));
      assertThat(domains.xml(name))
          .as("libvirt's defaults written down")
          .contains("<currentMemory unit=\"KiB\">98304</currentMemory>")
          .contains("<model fallback=\"forbid\">Westmere</model>")
          .contains("<topology sockets=\"1\" dies=\"1\" cores=\"2\" threads=\"1\"/>")
          .contains("<acpi/>");
      assertThat(domains.get(name).currentMemoryBytes()).isEqualTo(CURRENT);

      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      String cpus = cpus(domains, name);
      assertThat(cpus).as("2 CPUs of QEMU's Westmere model, not its default qemu64")
          .startsWith("2 ").contains("Westmere");
      long memTotal = awaitBallooned(domains, name);
      // Without a balloon this guest's MemTotal is ~80 MiB of its 128 (the kernel keeps the
      // rest); the balloon takes 32 MiB of it (measured: 48908 KiB left).
      assertThat(memTotal).as("guest MemTotal, KiB").isBetween(40L << 10, 64L << 10);

      beat = GuestProbe.latest(domains, name, beat.checksum());
      String image = cryo.imagesDir().resolve("cpu-mem.save").toString();
      cryo.client().images().saveToServer(name, image, SaveOptions.defaults());
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      String otherCpu = domains.xml(name).replace(">Westmere<", ">qemu64<");
      assertThatThrownBy(() -> cryo.client().images().restoreFromServer(image,
              RestoreOptions.defaults().replacementXml(otherCpu)))
          .as("the saved CPU state cannot load into another model")
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.INVALID_ARGUMENT);
            assertThat(e.getMessage()).contains("cpu custom qemu64").contains("!= custom Westmere");
          });
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      assertThat(cryo.client().images().restoreFromServer(image, RestoreOptions.defaults())
          .verified()).isTrue();

      GuestProbe.assertCarriesOn(domains, name, beat);
      assertThat(cpus(domains, name)).as("same CPUs after restore").isEqualTo(cpus);
      assertThat(mem(domains, name)).as("still ballooned after restore").isEqualTo(memTotal);
      Domain restored = domains.get(name);
      assertThat(restored.memoryBytes()).isEqualTo(MEMORY);
      assertThat(restored.currentMemoryBytes()).isEqualTo(CURRENT);
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  @Test
  void unknownModelAndHostCpuUnderTcg_refusedWithNothingLeft() throws Exception {
    Domains domains = cryo.client().domains();
    assertThatThrownBy(() -> domains.define(xml("cpu-unknown", "kvm",
            "<cpu><model>Pentium-Turbo9000</model></cpu>")))
        .isInstanceOfSatisfying(CryoException.class, e -> {
          assertThat(e.code()).isEqualTo(CryoException.ErrorCode.FAILED_PRECONDITION);
          assertThat(e.reason()).isEqualTo(CryoException.Reason.CPU_MODEL_UNKNOWN);
          assertThat(e.getMessage()).contains("<model>Pentium-Turbo9000</model>")
              .contains("e.g. qemu64");
        });
    assertThat(domains.list(Set.of()).stream().map(Domain::name)).doesNotContain("cpu-unknown");

    String name = "cpu-host-tcg";
    try {
      domains.define(xml(name, "qemu", "<cpu mode='host-passthrough'/>"));
      assertThatThrownBy(() -> domains.start(name))
          .isInstanceOfSatisfying(CryoException.class, e -> {
            assertThat(e.code()).isEqualTo(CryoException.ErrorCode.FAILED_PRECONDITION);
            assertThat(e.reason()).isEqualTo(CryoException.Reason.CPU_MODE_NEEDS_KVM);
            assertThat(e.getMessage()).contains("<cpu mode='host-passthrough'>")
                .contains("only KVM").contains("type is 'qemu' (TCG)");
          });
      Domain d = domains.get(name);
      assertThat(d.state()).isEqualTo(DomainState.SHUTOFF);
      assertThat(d.pid()).as("no QEMU started").isZero();
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  /** The guest's answer to {@code cpus}: its CPU count and model name. */
  private static String cpus(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      c.skipReceived();
      c.sendLine("cpus");
      Matcher m = c.awaitLine(CPUS, GuestProbe.LINE);
      return m.group(1) + " " + m.group(2);
    }
  }

  /** The guest's MemTotal in KiB. */
  private static long mem(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      c.skipReceived();
      c.sendLine("mem");
      return Long.parseLong(c.awaitLine(MEM, GuestProbe.LINE).group(1));
    }
  }

  /**
   * Waits, one heartbeat at a time, for the balloon to reach its target: GetDomain reports the
   * 96 MiB the guest keeps. Returns the guest's MemTotal then.
   */
  private static long awaitBallooned(Domains domains, String name) {
    try (Console c = domains.console(name)) {
      for (int beat = 0; domains.get(name).currentMemoryBytes() != CURRENT; beat++) {
        assertThat(beat).as("balloon reached 96 MiB within 60 heartbeats").isLessThan(60);
        c.awaitLine(GuestProbe.COUNTER, GuestProbe.LINE);
      }
    }
    return mem(domains, name);
  }
}
