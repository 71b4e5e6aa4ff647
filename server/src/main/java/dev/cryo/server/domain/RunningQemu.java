package dev.cryo.server.domain;

import dev.cryo.server.qemu.QemuConfinement;
import dev.cryo.server.qemu.QemuMonitor;
import dev.cryo.server.qemu.QemuProcess;
import dev.cryo.server.qemu.QemuSpec.Accelerator;
import dev.cryo.server.qemu.SerialConsole;

/**
 * The live parts of an active domain: its QEMU process, the QMP monitor and the serial
 * console. Closing releases the server's connections; the process itself is left alone.
 */
public final class RunningQemu implements AutoCloseable {

  private final QemuProcess process;
  private final QemuMonitor monitor;
  private final SerialConsole console;
  private final Accelerator accelerator;
  private final QemuConfinement.Applied confinement;
  /** Set before the server stops QEMU on purpose, so its exit reads as destroyed. */
  volatile boolean destroyRequested;
  /** Set when QEMU reported a SHUTDOWN event: its exit was a power-off. */
  volatile boolean shutdownSeen;
  /** Set when a caller pressed the power button: the guest is to stay off whatever on_poweroff. */
  volatile boolean powerdownRequested;
  /** QEMU stops rather than exits when the guest powers off ({@code -action shutdown=pause}). */
  volatile boolean pausesOnPoweroff;

  RunningQemu(QemuProcess process, QemuMonitor monitor, SerialConsole console, Accelerator accel,
      QemuConfinement.Applied confinement) {
    this.confinement = confinement;
    this.process = process;
    this.monitor = monitor;
    this.console = console;
    this.accelerator = accel;
  }

  public QemuProcess process() {
    return process;
  }

  /** The typed QMP monitor of this QEMU. */
  public QemuMonitor monitor() {
    return monitor;
  }

  public SerialConsole console() {
    return console;
  }

  public Accelerator accelerator() {
    return accelerator;
  }

  /** The user, seccomp filter and cgroup this QEMU runs under. */
  public QemuConfinement.Applied confinement() {
    return confinement;
  }

  @Override
  public void close() {
    console.close();
    monitor.close();
    process.close();
  }
}
