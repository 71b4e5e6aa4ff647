package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlType;

/**
 * {@code <features>}: the machine features Cryo models, each an empty element that is on when
 * present ({@code <acpi/> <apic/> <pae/>}, as libvirt writes them).
 *
 * <p>The rule, libvirt's wherever the XML has {@code <features>}: ACPI is on only with {@code
 * <acpi/>} (without it QEMU gets {@code acpi=off}, and the guest can no longer be shut down
 * gracefully). A definition with no {@code <features>} at all keeps QEMU's default machine, ACPI
 * on, which is the machine Cryo always gave such guests (so their shutdown and their saved images
 * keep working); Cryo writes that down as {@code <features><acpi/><apic/></features>} in the
 * stored XML, which means the same machine under libvirt. {@code <apic/>} and {@code <pae/>} are
 * recorded but change nothing: QEMU's x86-64 CPUs always have both, under libvirt too. Other
 * features ({@code <vmport>}, {@code <hyperv>}, ...) are ignored with a warning.
 *
 * <p>Mutable, not thread-safe; see {@link DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"acpi", "apic", "pae"})
public final class FeaturesDef {
  @XmlElement(name = "acpi")
  private On acpi;

  @XmlElement(name = "apic")
  private On apic;

  @XmlElement(name = "pae")
  private On pae;

  public FeaturesDef() {}

  /** What Cryo gives a definition without {@code <features>}: QEMU's defaults, ACPI on. */
  static FeaturesDef qemuDefaults() {
    FeaturesDef f = new FeaturesDef();
    f.setAcpi(true);
    f.setApic(true);
    return f;
  }

  /** Whether the guest has ACPI (power button, shutdown through {@code system_powerdown}). */
  public boolean isAcpi() {
    return acpi != null;
  }

  public void setAcpi(boolean on) {
    acpi = on ? new On() : null;
  }

  public boolean isApic() {
    return apic != null;
  }

  public void setApic(boolean on) {
    apic = on ? new On() : null;
  }

  public boolean isPae() {
    return pae != null;
  }

  public void setPae(boolean on) {
    pae = on ? new On() : null;
  }

  /** An empty element that turns a feature on. */
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "featureOn")
  static final class On {}
}
