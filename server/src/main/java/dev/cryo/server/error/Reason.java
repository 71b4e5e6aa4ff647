package dev.cryo.server.error;

/**
 * Why a call failed, as clients see it in {@code google.rpc.ErrorInfo.reason} (with domain {@link
 * #DOMAIN}): clients branch on these, never on message text. Names are stable API: new reasons are
 * appended at the end, none is renamed or removed. Each belongs to one {@link ErrorKind}. The first
 * group are the generic reasons of each kind, for failures no specific reason names yet. The list
 * is mirrored, in this order, by {@code ErrorReason} in {@code cryo/v1/errors.proto} for clients in
 * every language (a test keeps the two equal).
 */
public enum Reason {
  NOT_FOUND(ErrorKind.NOT_FOUND),
  ALREADY_EXISTS(ErrorKind.EXISTS),
  INVALID_ARGUMENT(ErrorKind.BAD_REQUEST),
  FAILED_PRECONDITION(ErrorKind.WRONG_STATE),
  ABORTED(ErrorKind.BUSY),
  DATA_LOSS(ErrorKind.CORRUPT),
  PERMISSION_DENIED(ErrorKind.DENIED),
  UNAUTHENTICATED(ErrorKind.UNAUTHENTICATED),
  RESOURCE_EXHAUSTED(ErrorKind.LIMIT),
  DEADLINE_EXCEEDED(ErrorKind.TIMEOUT),
  CANCELLED(ErrorKind.CANCELLED),
  UNAVAILABLE(ErrorKind.UNAVAILABLE),
  INTERNAL(ErrorKind.INTERNAL),

  /** No domain of that name that the caller may see. Metadata: {@code domain}. */
  DOMAIN_NOT_FOUND(ErrorKind.NOT_FOUND),
  /** The domain has no such snapshot. Metadata: {@code domain}, {@code snapshot}. */
  SNAPSHOT_NOT_FOUND(ErrorKind.NOT_FOUND),
  /** The domain has no such checkpoint. Metadata: {@code domain}, {@code checkpoint}. */
  CHECKPOINT_NOT_FOUND(ErrorKind.NOT_FOUND),
  /** No save image there (file or managed save). Metadata: {@code domain} for managed saves. */
  IMAGE_NOT_FOUND(ErrorKind.NOT_FOUND),
  /** A domain of that name or UUID exists. Metadata: {@code domain}. */
  DOMAIN_EXISTS(ErrorKind.EXISTS),
  /** The domain already has a snapshot of that name. Metadata: {@code domain}, {@code snapshot}. */
  SNAPSHOT_EXISTS(ErrorKind.EXISTS),
  /** The domain already has a checkpoint of that name. */
  CHECKPOINT_EXISTS(ErrorKind.EXISTS),
  /** A file the call would create exists; nothing was overwritten. */
  FILE_EXISTS(ErrorKind.EXISTS),
  /** The domain XML is malformed or names something Cryo refuses; the message names the element. */
  DOMAIN_XML_INVALID(ErrorKind.BAD_REQUEST),
  /**
   * The domain XML inside a save image is not usable by Cryo (e.g. libvirt's, with a device Cryo
   * does not model): restore it with a replacement XML.
   */
  IMAGE_XML_INVALID(ErrorKind.BAD_REQUEST),
  /** A save image is not one Cryo can read (format, version, compression). */
  IMAGE_FORMAT_UNSUPPORTED(ErrorKind.BAD_REQUEST),
  /** The domain's state forbids the call (e.g. start a running domain). Metadata: {@code state}. */
  DOMAIN_STATE(ErrorKind.WRONG_STATE),
  /** Another job holds the domain. Metadata: {@code domain}, {@code job}. */
  DOMAIN_BUSY(ErrorKind.BUSY),
  /** The image's digest does not match its bytes: it was damaged. Nothing ran. */
  IMAGE_DIGEST_MISMATCH(ErrorKind.CORRUPT),
  /**
   * The image's payload does not decode (its compressor's checksum or framing fails) or QEMU
   * refused the migration stream in it. Nothing ran.
   */
  IMAGE_CORRUPT(ErrorKind.CORRUPT),
  /** The image ends before its header says it does. */
  IMAGE_TRUNCATED(ErrorKind.CORRUPT),
  /** A path is outside the server's image folders, relative, or a link. */
  PATH_NOT_ALLOWED(ErrorKind.DENIED),
  /** The caller's role does not allow the call (e.g. read-only). Metadata: {@code principal}. */
  ROLE_DENIED(ErrorKind.DENIED),
  /** The server could not tell who is calling; it refuses rather than guess. */
  CALLER_UNKNOWN(ErrorKind.DENIED),
  /** The caller's credentials were revoked while the call ran. */
  CREDENTIALS_REVOKED(ErrorKind.UNAUTHENTICATED),
  /** The server's or the principal's job limit is reached. Metadata: {@code limit}. */
  JOB_LIMIT(ErrorKind.LIMIT),
  /** An image is larger than the server accepts. */
  IMAGE_TOO_LARGE(ErrorKind.LIMIT),
  /** The other side of a stream buffered more than the limit without reading. */
  STREAM_BUFFER_FULL(ErrorKind.LIMIT),
  /** The other side of a stream sent or read nothing for longer than the stall limit. */
  STREAM_STALLED(ErrorKind.TIMEOUT),
  /**
   * The domain's QEMU went away (exited, killed, its monitor connection broke) before it answered.
   * A wrong state, not UNAVAILABLE: the same call fails the same way until the domain is started
   * again.
   */
  QEMU_GONE(ErrorKind.WRONG_STATE),
  /** QEMU refused a command; the message has QEMU's words. */
  QEMU_REFUSED(ErrorKind.WRONG_STATE),
  /** The object store did not answer (down, unreachable, timed out); retrying may work. */
  OBJECT_STORE_UNAVAILABLE(ErrorKind.UNAVAILABLE),
  /**
   * The object store refused the server's credentials or their rights on the bucket: fix the
   * server's object store credentials. Metadata: {@code bucket}.
   */
  OBJECT_STORE_DENIED(ErrorKind.DENIED),
  /** The configured bucket does not exist in the object store. Metadata: {@code bucket}. */
  BUCKET_NOT_FOUND(ErrorKind.WRONG_STATE),
  /**
   * A host port the domain's {@code <portForward>} names is taken by another program (or by this
   * guest's own QEMU while it moves to another server on the same host): forward another port.
   * Metadata: {@code domain}, {@code port}.
   */
  HOST_PORT_IN_USE(ErrorKind.WRONG_STATE),
  /**
   * The domain's {@code <cpu><model>} is not a CPU model this host's QEMU knows: pick one it
   * lists (the message names a few) or run a newer QEMU. Metadata: {@code domain}, {@code
   * model}.
   */
  CPU_MODEL_UNKNOWN(ErrorKind.WRONG_STATE),
  /**
   * The domain asks for the host's CPU ({@code host-model} or {@code host-passthrough}), which
   * only KVM can give, and it would run under TCG: use a named model or a host with KVM.
   * Metadata: {@code domain}, {@code mode}.
   */
  CPU_MODE_NEEDS_KVM(ErrorKind.WRONG_STATE);

  /** The {@code google.rpc.ErrorInfo.domain} of every Cryo reason. */
  public static final String DOMAIN = "cryo.dev";

  private final ErrorKind kind;

  Reason(ErrorKind kind) {
    this.kind = kind;
  }

  public ErrorKind kind() {
    return kind;
  }
}
