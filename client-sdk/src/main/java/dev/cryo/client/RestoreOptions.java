package dev.cryo.client;

/**
 * How to restore a domain.
 *
 * @param start RUNNING, PAUSED, or null to start as it was when saved
 * @param replacementXml a domain XML to use instead of the image's (same name, UUID, memory,
 *     vCPUs, machine, CPU model and topology, ACPI), or null
 * @param cancellation cancels the restore; null for none
 * @param requireVerified refuse (FAILED_PRECONDITION) an image whose payload cannot be checked
 *     against a digest: one written by libvirt or by a Cryo older than digest trailers, restored
 *     with no digest given
 */
public record RestoreOptions(DomainState start, String replacementXml,
    Cancellation cancellation, boolean requireVerified) {
  public RestoreOptions {
    if (start != null && start != DomainState.RUNNING && start != DomainState.PAUSED) {
      throw new IllegalArgumentException("start must be RUNNING, PAUSED or null, got " + start);
    }
  }

  public static RestoreOptions defaults() {
    return new RestoreOptions(null, null, null, false);
  }

  public RestoreOptions start(DomainState s) {
    return new RestoreOptions(s, replacementXml, cancellation, requireVerified);
  }

  public RestoreOptions replacementXml(String xml) {
    return new RestoreOptions(start, xml, cancellation, requireVerified);
  }

  public RestoreOptions cancellation(Cancellation c) {
    return new RestoreOptions(start, replacementXml, c, requireVerified);
  }

  public RestoreOptions requireVerified(boolean required) {
    return new RestoreOptions(start, replacementXml, cancellation, required);
  }
}
