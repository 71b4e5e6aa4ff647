package dev.cryo.server.error;

/**
 * Base of every failure the server reports to a caller. Each subtype stands for one gRPC status
 * code (see {@code dev.cryo.server.grpc.StatusMapping}); the message is written for the caller:
 * it says what to change and names no host path the caller did not give.
 */
public abstract class CryoException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  protected CryoException(String message) {
    super(message);
  }

  protected CryoException(String message, Throwable cause) {
    super(message, cause);
  }
}
