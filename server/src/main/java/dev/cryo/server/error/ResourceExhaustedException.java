package dev.cryo.server.error;

/** A limit was reached (concurrent jobs, image size); retry later or ask for less. */
public class ResourceExhaustedException extends CryoException {
  private static final long serialVersionUID = 1L;

  public ResourceExhaustedException(String message) {
    super(Reason.RESOURCE_EXHAUSTED, message);
  }
}
