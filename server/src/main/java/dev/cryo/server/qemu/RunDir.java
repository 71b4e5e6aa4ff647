package dev.cryo.server.qemu;

import java.nio.file.Path;

/**
 * The runtime folder of one QEMU process. It outlives the server: a restarted server finds the
 * process again through {@link #pidFile()} and {@link #qmpSocket()}.
 */
public record RunDir(Path path) {

  /** QMP monitor socket; QEMU listens, the server connects. */
  public Path qmpSocket() {
    return path.resolve("qmp.sock");
  }

  /** Serial console socket; QEMU listens, the server connects. */
  public Path consoleSocket() {
    return path.resolve("console.sock");
  }

  /** Everything the guest printed on its serial port, written by QEMU itself. */
  public Path serialLog() {
    return path.resolve("serial.log");
  }

  /** QEMU's pid, written by QEMU. */
  public Path pidFile() {
    return path.resolve("qemu.pid");
  }

  /** QEMU's own stdout and stderr. */
  public Path qemuLog() {
    return path.resolve("qemu.log");
  }
}
