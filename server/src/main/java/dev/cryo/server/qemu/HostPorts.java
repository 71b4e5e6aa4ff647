package dev.cryo.server.qemu;

import java.io.IOException;
import java.net.DatagramSocket;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.List;
import java.util.Optional;

/**
 * Whether the host ports a guest's user network forwards are free, asked before QEMU starts so
 * that a taken port is refused with its number rather than as a QEMU that died at start. QEMU
 * still has the last word: a port taken in between makes QEMU fail, which {@link
 * #isForwardFailure} recognises in its log.
 */
public final class HostPorts {
  private HostPorts() {}

  /** The first forward of {@code nics} whose host port cannot be bound now, if any. */
  public static Optional<QemuSpec.HostForward> firstTaken(List<QemuSpec.Nic> nics) {
    for (QemuSpec.Nic nic : nics) {
      for (QemuSpec.HostForward forward : nic.forwards()) {
        if (!free(forward)) {
          return Optional.of(forward);
        }
      }
    }
    return Optional.empty();
  }

  /** Whether QEMU's log says it could not open a host forward. */
  public static boolean isForwardFailure(String qemuLog) {
    return qemuLog != null && qemuLog.contains("Could not set up host forwarding rule");
  }

  private static boolean free(QemuSpec.HostForward forward) {
    try {
      InetSocketAddress address =
          forward.hostAddress() == null
              ? new InetSocketAddress(forward.hostPort())
              : new InetSocketAddress(
                  InetAddress.getByName(forward.hostAddress()), forward.hostPort());
      if (forward.udp()) {
        try (DatagramSocket s = new DatagramSocket(address)) {
          return true;
        }
      }
      try (ServerSocket s = new ServerSocket()) {
        s.setReuseAddress(true); // as slirp does: a port in TIME_WAIT is free to QEMU too
        s.bind(address);
        return true;
      }
    } catch (IOException e) {
      return false;
    }
  }
}
