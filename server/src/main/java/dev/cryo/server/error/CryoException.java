package dev.cryo.server.error;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * Every failure the server reports to a caller: a {@link Reason} (which fixes the {@link
 * ErrorKind}, and so the gRPC status), a message written for the caller (what to change; no host
 * path the caller did not name), metadata such as the domain's name, and, when one request field is
 * at fault, that field's name. On the wire these become {@code google.rpc.ErrorInfo} and {@code
 * google.rpc.BadRequest} details ({@code dev.cryo.server.grpc.StatusMapping}).
 *
 * <p>Throw it with a reason: {@code throw new CryoException(Reason.DOMAIN_NOT_FOUND, "no domain
 * named 'vm1'").with("domain", "vm1")}. The subclasses named after gRPC codes are older spellings
 * of the generic reasons.
 */
public class CryoException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final Reason reason;
  private final LinkedHashMap<String, String> metadata = new LinkedHashMap<>();
  private String field;

  public CryoException(Reason reason, String message) {
    this(reason, message, null);
  }

  public CryoException(Reason reason, String message, Throwable cause) {
    super(message, cause);
    this.reason = Objects.requireNonNull(reason, "reason");
  }

  public Reason reason() {
    return reason;
  }

  public ErrorKind kind() {
    return reason.kind();
  }

  /** Adds {@code key=value} to the reason's metadata (for clients: which domain, which job). */
  public CryoException with(String key, String value) {
    metadata.put(key, String.valueOf(value));
    return this;
  }

  /**
   * Names the request field at fault, as a proto field path ({@code "xml"}, {@code
   * "options.compression"}); sent as a {@code BadRequest} field violation.
   */
  public CryoException field(String name) {
    this.field = name;
    return this;
  }

  public Map<String, String> metadata() {
    return Collections.unmodifiableMap(metadata);
  }

  /** The request field at fault, or null. */
  public String field() {
    return field;
  }
}
