package dev.cryo.server.error;

/**
 * What kind of failure a {@link Reason} is: the one thing that decides the gRPC status (the table
 * is {@code dev.cryo.server.grpc.StatusMapping}). Throw sites choose a reason, never a wire code.
 */
public enum ErrorKind {
  /** A named thing (domain, snapshot, checkpoint, image) does not exist for this caller. */
  NOT_FOUND,
  /** The name or file is taken. */
  EXISTS,
  /** The request itself is wrong, whatever the server's state: fix the request. */
  BAD_REQUEST,
  /** The request is fine but the state forbids it: change the state first. */
  WRONG_STATE,
  /** Another operation holds the object: retry the whole sequence later. */
  BUSY,
  /** Stored or received data is damaged or incomplete. */
  CORRUPT,
  /** The caller may not do this, or not on that path. */
  DENIED,
  /** The caller's credentials are missing, unknown or revoked. */
  UNAUTHENTICATED,
  /** A limit of the server or of the caller is reached: a job quota, a size, a buffer. */
  LIMIT,
  /** Something did not happen in time: a stalled stream, a guest that would not stop. */
  TIMEOUT,
  /** The caller cancelled, or the operation was aborted on request. */
  CANCELLED,
  /** A part the server relies on (QEMU, a store) is gone or unreachable: retrying may work. */
  UNAVAILABLE,
  /** A bug or an unexpected host failure: the server log has the details. */
  INTERNAL
}
