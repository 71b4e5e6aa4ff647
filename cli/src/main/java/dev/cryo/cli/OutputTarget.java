package dev.cryo.cli;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Where a command writes a byte stream named {@code FILE} or {@code -} (a save image, a backup):
 * a file appears only complete, never partial. Bytes go to a hidden temporary file beside it,
 * which {@link #commit} fsyncs and renames into place; {@link #close} without commit (failure,
 * Ctrl-C: the JVM's shutdown hook closes it too) deletes it. {@code -} is standard output, which
 * cannot be taken back: a consumer must check the exit code.
 */
final class OutputTarget implements AutoCloseable {
  private final Path target;
  private final Path temp;
  private final FileChannel channel;
  private final OutputStream stream;
  private final Thread cleanupOnExit;
  /** Guarded by {@code this}. */
  private boolean done;

  private OutputTarget(Path target, Path temp, FileChannel channel, OutputStream stream) {
    this.target = target;
    this.temp = temp;
    this.channel = channel;
    this.stream = stream;
    this.cleanupOnExit = temp == null ? null : new Thread(this::discard, "discard-partial");
    if (cleanupOnExit != null) {
      Runtime.getRuntime().addShutdownHook(cleanupOnExit);
    }
  }

  /**
   * Opens {@code file} ({@code -}: standard output) for writing.
   *
   * @param overwrite replace an existing file on commit; otherwise refuse at once
   */
  static OutputTarget open(String file, boolean overwrite) {
    if (file.equals("-")) {
      return new OutputTarget(null, null, null, new FilterOutputStream(
          new FileOutputStream(FileDescriptor.out)) {
        @Override
        public void write(byte[] b, int off, int len) throws IOException {
          out.write(b, off, len);
        }
      });
    }
    Path target = Path.of(file).toAbsolutePath();
    if (!overwrite && Files.exists(target)) {
      throw new CliException(ExitCodes.PRECONDITION, file + " exists; remove it or choose "
          + "another name", null);
    }
    try {
      Path dir = target.getParent();
      Path temp = Files.createTempFile(dir, "." + target.getFileName() + ".", ".part");
      FileChannel channel = FileChannel.open(temp, StandardOpenOption.WRITE);
      return new OutputTarget(target, temp, channel, java.nio.channels.Channels
          .newOutputStream(channel));
    } catch (IOException e) {
      throw new CliException(ExitCodes.INVALID_INPUT, "cannot write " + file + ": " + e, e);
    }
  }

  /** The stream to write to; do not close it, close this. */
  OutputStream stream() {
    return stream;
  }

  /** Flushes, fsyncs and renames the temporary file into place. */
  synchronized void commit() throws IOException {
    if (done) {
      throw new IllegalStateException("already committed or discarded");
    }
    stream.flush();
    if (temp == null) {
      done = true;
      return;
    }
    channel.force(true);
    channel.close();
    try {
      Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE,
          StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(temp, target, StandardCopyOption.REPLACE_EXISTING);
    } catch (FileAlreadyExistsException e) {
      Files.deleteIfExists(temp);
      throw e;
    }
    done = true;
  }

  /** Deletes the temporary file unless committed. Idempotent. */
  private synchronized void discard() {
    if (done) {
      return;
    }
    done = true;
    if (temp == null) {
      return;
    }
    try {
      channel.close();
      Files.deleteIfExists(temp);
    } catch (IOException e) {
      System.err.println("cryo: could not remove the partial file " + temp + ": " + e);
    }
  }

  @Override
  public void close() {
    discard();
    if (cleanupOnExit != null) {
      try {
        Runtime.getRuntime().removeShutdownHook(cleanupOnExit);
      } catch (IllegalStateException e) {
        // Already exiting: the hook runs, and discard() is idempotent.
      }
    }
  }
}
