package dev.cryo.server;

import dev.cryo.server.domain.Domains.AcceleratorPolicy;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How a Cryo server runs.
 *
 * @param listen address of the gRPC port; port 0 picks a free one
 * @param stateDir where definitions, metadata, managed saves and run folders live
 * @param qemuBinary the emulator; never taken from a caller
 * @param accelerator how {@code type='kvm'} domains pick KVM or TCG
 */
public record ServerConfig(
    InetSocketAddress listen, Path stateDir, Path qemuBinary, AcceleratorPolicy accelerator) {

  public static final int DEFAULT_PORT = 7600;

  public ServerConfig {
    Objects.requireNonNull(listen, "listen");
    Objects.requireNonNull(stateDir, "stateDir");
    Objects.requireNonNull(qemuBinary, "qemuBinary");
    Objects.requireNonNull(accelerator, "accelerator");
  }
}
