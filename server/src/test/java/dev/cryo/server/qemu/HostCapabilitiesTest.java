package dev.cryo.server.qemu;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(10)
class HostCapabilitiesTest {
  @TempDir Path temp;

  @Test
  void parseMachineAliases_mapsAliasToVersionedType() {
    String help = """
        Supported machines are:
        microvm              microvm (i386)
        pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)
        pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)
        q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)
        """;
    HostCapabilities caps = new HostCapabilities(Path.of("qemu"), null,
        HostCapabilities.parseMachineAliases(help), List.of());
    assertThat(caps.resolveMachine("pc")).isEqualTo("pc-i440fx-7.2");
    assertThat(caps.resolveMachine("q35")).isEqualTo("pc-q35-7.2");
    assertThat(caps.resolveMachine("pc-i440fx-6.2")).isEqualTo("pc-i440fx-6.2");
  }

  @Test
  void kvmUnusableReason_noDevice() {
    assertThat(HostCapabilities.kvmUnusableReason(temp.resolve("kvm"), temp.resolve("cpuinfo")))
        .contains("cannot be opened");
  }

  @Test
  void kvmUnusableReason_deviceWithoutVmxOrSvm_isNotUsable() throws Exception {
    Path kvm = Files.createFile(temp.resolve("kvm"));
    Path cpuinfo = Files.writeString(temp.resolve("cpuinfo"), "flags\t\t: fpu sse2 hypervisor\n");
    assertThat(HostCapabilities.kvmUnusableReason(kvm, cpuinfo)).contains("neither vmx nor svm");
  }

  @Test
  void kvmUnusableReason_deviceAndVmx_isUsable() throws Exception {
    Path kvm = Files.createFile(temp.resolve("kvm"));
    Path cpuinfo = Files.writeString(temp.resolve("cpuinfo"), "flags\t\t: fpu vmx sse2\n");
    assertThat(HostCapabilities.kvmUnusableReason(kvm, cpuinfo)).isNull();
  }
}
