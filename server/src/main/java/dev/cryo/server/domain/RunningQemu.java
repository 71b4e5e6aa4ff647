package dev.cryo.server.domain;

import dev.cryo.server.qemu.QemuProcess;
import dev.cryo.server.qemu.QemuSpec.Accelerator;
import dev.cryo.server.qemu.QmpClient;
import dev.cryo.server.qemu.SerialConsole;
import java.io.IOException;
import java.nio.file.Files;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live parts of an active domain: its QEMU process, the QMP connection and the serial
 * console. Closing releases the server's connections; the process itself is left alone.
 */
public final class RunningQemu implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(RunningQemu.class);

  private final QemuProcess process;
  private final QmpClient qmp;
  private final SerialConsole console;
  private final Accelerator accelerator;
  /** Set before the server stops QEMU on purpose, so its exit reads as destroyed. */
  volatile boolean destroyRequested;
  /** Set when QEMU reported a SHUTDOWN event: its exit was a power-off. */
  volatile boolean shutdownSeen;

  RunningQemu(QemuProcess process, QmpClient qmp, SerialConsole console, Accelerator accel) {
    this.process = process;
    this.qmp = qmp;
    this.console = console;
    this.accelerator = accel;
  }

  public QemuProcess process() {
    return process;
  }

  public QmpClient qmp() {
    return qmp;
  }

  public SerialConsole console() {
    return console;
  }

  public Accelerator accelerator() {
    return accelerator;
  }

  /** Removes the sockets and pid file of a process that has exited. Logs stay. */
  void cleanRunDir() {
    try {
      Files.deleteIfExists(process.runDir().qmpSocket());
      Files.deleteIfExists(process.runDir().consoleSocket());
      Files.deleteIfExists(process.runDir().pidFile());
    } catch (IOException e) {
      log.warn("could not clean {}", process.runDir().path(), e);
    }
  }

  @Override
  public void close() {
    console.close();
    qmp.close();
    process.close();
  }
}
