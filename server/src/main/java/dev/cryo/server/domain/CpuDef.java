package dev.cryo.server.domain;

import dev.cryo.server.error.InvalidArgumentException;
import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlType;
import jakarta.xml.bind.annotation.XmlValue;

/**
 * {@code <cpu>}: the guest CPU's model and topology (libvirt's {@code virCPUDef}).
 *
 * <pre>{@code
 * <cpu mode='custom' match='exact'>
 *   <model fallback='allow'>Westmere</model>
 *   <topology sockets='1' dies='1' cores='2' threads='1'/>
 * </cpu>
 * <cpu mode='host-passthrough'/>     (or host-model: KVM only; QEMU's -cpu host)
 * }</pre>
 *
 * <p>Defaults, written into the stored XML as libvirt writes them: {@code mode='custom'}; with a
 * model, {@code match='exact'} and {@code fallback='allow'}; a topology attribute left out is 1.
 * Cryo runs exactly the named model or refuses to start: it never falls back to another one
 * (whatever {@code fallback} says), because a saved image restores only into the CPU it was saved
 * on. The name must be one of the host QEMU's models ({@code query-cpu-definitions}), checked when
 * the domain is defined and again when it starts. Only {@code match='exact'} is supported; {@code
 * <feature>}, {@code <vendor>}, {@code <cache>} and {@code <numa>} are ignored with a warning.
 *
 * <p>Mutable, not thread-safe; see {@link DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"model", "topology"})
public final class CpuDef {
  public static final String CUSTOM = "custom";
  public static final String HOST_MODEL = "host-model";
  public static final String HOST_PASSTHROUGH = "host-passthrough";

  @XmlAttribute(name = "mode")
  private String mode;

  @XmlAttribute(name = "match")
  private String match;

  @XmlElement(name = "model")
  private Model model;

  @XmlElement(name = "topology")
  private TopologyElement topology;

  public CpuDef() {}

  /** {@link #CUSTOM}, {@link #HOST_MODEL} or {@link #HOST_PASSTHROUGH} once parsed. */
  public String getMode() {
    return mode;
  }

  public void setMode(String mode) {
    this.mode = mode;
  }

  /** Whether the guest gets the host's CPU ({@code host-model} or {@code host-passthrough}). */
  public boolean isHostCpu() {
    return HOST_MODEL.equals(mode) || HOST_PASSTHROUGH.equals(mode);
  }

  /** The named model of a custom CPU, e.g. {@code Westmere}; null for QEMU's default. */
  public String getModel() {
    return model == null || model.name == null || model.name.isBlank() ? null : model.name;
  }

  /** Names the model of a custom CPU, with libvirt's default {@code fallback='allow'}. */
  public void setModel(String name) {
    model = new Model();
    model.name = name;
  }

  /** Whether {@code <topology>} is given; without it each vCPU is a socket of its own. */
  public boolean hasTopology() {
    return topology != null;
  }

  /** A CPU topology; its product is the number of vCPUs. */
  public record Topology(int sockets, int dies, int cores, int threads) {}

  /** The topology of a normalized definition, or null without {@code <topology>}. */
  public Topology topology() {
    return topology == null ? null : new Topology(Integer.parseInt(topology.sockets),
        Integer.parseInt(topology.dies), Integer.parseInt(topology.cores),
        Integer.parseInt(topology.threads));
  }

  /** Sets the topology; {@link DomainXml#parse} checks it against the vCPU count. */
  public void setTopology(int sockets, int dies, int cores, int threads) {
    topology = new TopologyElement();
    topology.sockets = Integer.toString(sockets);
    topology.dies = Integer.toString(dies);
    topology.cores = Integer.toString(cores);
    topology.threads = Integer.toString(threads);
  }

  /** Validates and fills in libvirt's defaults; {@code vcpus} is the domain's {@code <vcpu>}. */
  void normalize(int vcpus) {
    if (mode == null) {
      mode = CUSTOM;
    } else if (!mode.equals(CUSTOM) && !isHostCpu()) {
      throw new InvalidArgumentException("cpu mode '" + mode + "' is not supported; use '"
          + CUSTOM + "' (a named model), '" + HOST_MODEL + "' or '" + HOST_PASSTHROUGH + "'");
    }
    if (model != null) {
      if (model.name != null) {
        model.name = model.name.strip();
      }
      if (isHostCpu() && getModel() != null) {
        throw new InvalidArgumentException("cpu mode '" + mode + "' gives the guest the host's "
            + "CPU, so <model>" + model.name + "</model> would not be used; remove the model or "
            + "use <cpu mode='custom'>");
      }
      if (model.fallback == null) {
        model.fallback = "allow";
      } else if (!model.fallback.equals("allow") && !model.fallback.equals("forbid")) {
        throw new InvalidArgumentException("cpu model fallback '" + model.fallback
            + "' is not known; use 'allow' or 'forbid'");
      }
    }
    if (mode.equals(CUSTOM) && getModel() != null && match == null) {
      match = "exact";
    }
    if (match != null && !match.equals("exact")) {
      throw new InvalidArgumentException("cpu match '" + match + "' is not supported; use "
          + "match='exact' (Cryo gives the guest exactly the named model)");
    }
    if (topology != null) {
      int sockets = count(topology.sockets, "sockets");
      int dies = count(topology.dies, "dies");
      int cores = count(topology.cores, "cores");
      int threads = count(topology.threads, "threads");
      long cpus = (long) sockets * dies * cores * threads;
      if (cpus != vcpus) {
        throw new InvalidArgumentException("<cpu><topology sockets='" + sockets + "' dies='"
            + dies + "' cores='" + cores + "' threads='" + threads + "'/> makes " + cpus
            + " CPUs but <vcpu> is " + vcpus + "; make sockets*dies*cores*threads equal <vcpu>");
      }
      setTopology(sockets, dies, cores, threads);
    }
  }

  private static int count(String text, String attribute) {
    if (text == null) {
      return 1;
    }
    int value;
    try {
      value = Integer.parseInt(text.strip());
    } catch (NumberFormatException e) {
      value = 0;
    }
    if (value < 1) {
      throw new InvalidArgumentException("<cpu><topology " + attribute + "='" + text
          + "'/> is not a positive number");
    }
    return value;
  }

  /** {@code <model fallback='allow|forbid'>NAME</model>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "cpuModel")
  static final class Model {
    @XmlAttribute(name = "fallback")
    String fallback;

    @XmlValue
    String name;
  }

  /** {@code <topology sockets='' dies='' cores='' threads=''/>}, as written until normalized. */
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(name = "cpuTopology")
  static final class TopologyElement {
    @XmlAttribute(name = "sockets")
    String sockets;

    @XmlAttribute(name = "dies")
    String dies;

    @XmlAttribute(name = "cores")
    String cores;

    @XmlAttribute(name = "threads")
    String threads;
  }
}
