package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlType;
import jakarta.xml.bind.annotation.XmlValue;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code <os>}: how the guest boots.
 *
 * <pre>{@code
 * <os>
 *   <type arch='x86_64' machine='pc-i440fx-7.2'>hvm</type>
 *   <kernel>/abs/vmlinuz</kernel> <initrd>/abs/initrd</initrd> <cmdline>console=ttyS0</cmdline>
 *   <boot dev='hd'/>
 * </os>
 * }</pre>
 *
 * Mutable, not thread-safe; see {@link DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"type", "kernel", "initrd", "cmdline", "boots"})
public final class OsDef {
  @XmlElement(name = "type")
  private Type type;

  @XmlElement(name = "kernel")
  private String kernel;

  @XmlElement(name = "initrd")
  private String initrd;

  @XmlElement(name = "cmdline")
  private String cmdline;

  @XmlElement(name = "boot")
  private List<Boot> boots = new ArrayList<>();

  public OsDef() {}

  /** The OS type, the text of {@code <type>}: always {@code hvm} once parsed. */
  public String getOsType() {
    return type == null ? null : type.value;
  }

  public void setOsType(String osType) {
    type().value = osType;
  }

  /** The guest architecture, e.g. {@code x86_64}, or null for the host's. */
  public String getArch() {
    return type == null ? null : type.arch;
  }

  public void setArch(String arch) {
    type().arch = arch;
  }

  /** The QEMU machine type, e.g. {@code pc-i440fx-7.2}, or null for QEMU's default. */
  public String getMachine() {
    return type == null ? null : type.machine;
  }

  public void setMachine(String machine) {
    type().machine = machine;
  }

  /** Absolute path of the kernel for direct kernel boot, or null. */
  public String getKernel() {
    return kernel;
  }

  public void setKernel(String kernel) {
    this.kernel = kernel;
  }

  /** Absolute path of the initrd, or null. */
  public String getInitrd() {
    return initrd;
  }

  public void setInitrd(String initrd) {
    this.initrd = initrd;
  }

  /** The kernel command line, or null. */
  public String getCmdline() {
    return cmdline;
  }

  public void setCmdline(String cmdline) {
    this.cmdline = cmdline;
  }

  /** The {@code <boot dev=...>} devices in order ({@code hd}, {@code cdrom}, ...); read-only. */
  public List<String> getBootDevices() {
    return boots.stream().map(b -> b.dev).toList();
  }

  public void setBootDevices(List<String> devices) {
    boots = new ArrayList<>();
    for (String dev : devices) {
      Boot boot = new Boot();
      boot.dev = dev;
      boots.add(boot);
    }
  }

  private Type type() {
    if (type == null) {
      type = new Type();
    }
    return type;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Type {
    @XmlAttribute(name = "arch")
    String arch;

    @XmlAttribute(name = "machine")
    String machine;

    @XmlValue
    String value;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Boot {
    @XmlAttribute(name = "dev")
    String dev;
  }
}
