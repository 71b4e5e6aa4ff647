package dev.cryo.client;

import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A domain's serial console, attached. Output is split into lines as it arrives; {@link
 * #awaitLine} reads them in order, each line once, so a caller can wait for one thing, then for
 * the next. Close to detach; the guest keeps running.
 */
public interface Console extends AutoCloseable {

  /**
   * Sends text to the guest's serial port, as UTF-8.
   *
   * @throws IllegalStateException if the console was closed
   */
  void send(String text);

  /**
   * Sends bytes to the guest's serial port as they are (keystrokes of an interactive session).
   *
   * @throws IllegalStateException if the console was closed
   */
  void send(byte[] data);

  /** Sends {@code line} followed by a newline. */
  default void sendLine(String line) {
    send(line + "\n");
  }

  /**
   * Waits for the next line matching {@code pattern} (with {@link Matcher#find()}), skipping the
   * lines before it.
   *
   * @return the match
   * @throws CryoException with DEADLINE_EXCEEDED if no such line came within {@code timeout}, or
   *     the server's error if the console closed
   */
  Matcher awaitLine(Pattern pattern, Duration timeout);

  /** Skips every line received so far: the next {@link #awaitLine} sees only newer output. */
  void skipReceived();

  /** Everything received so far, history included, as text. */
  String transcript();

  /**
   * Completes when the console ends: normally when this side closed it or the server ended the
   * stream (the domain stopped), exceptionally with a {@link CryoException} when the stream
   * failed (e.g. NOT_FOUND for an unknown domain).
   */
  CompletableFuture<Void> ended();

  /** Detaches. Idempotent. */
  @Override
  void close();
}
