package dev.cryo.server.domain;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlType;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code <interface>}: a network card, in libvirt's syntax and element order.
 *
 * <pre>{@code
 * <interface type='user'>
 *   <mac address='52:54:00:12:34:56'/>          generated once at define when missing, as libvirt
 *   <ip family='ipv4' address='10.0.3.0' prefix='24'/>   user only: the network QEMU serves
 *   <portForward proto='tcp|udp' address='127.0.0.1'>    user only: host -> guest forwards
 *     <range start='8080' end='8081' to='80'/>
 *   </portForward>
 *   <model type='virtio|e1000e|e1000|rtl8139'/>  default rtl8139, libvirt's x86 default
 *   <link state='up|down'/>
 * </interface>
 * }</pre>
 *
 * <p>{@code type='user'} is QEMU's user-mode network (slirp): it needs no privilege, the guest
 * gets its address by DHCP (10.0.2.15 by default), and {@code <portForward>} opens host ports
 * that reach guest ports. Once parsed, type, MAC and model are present. Mutable, not
 * thread-safe; see {@link DomainDef}.
 */
@XmlAccessorType(XmlAccessType.FIELD)
@XmlType(propOrder = {"mac", "ips", "portForwards", "model", "link", "address"})
public final class InterfaceDef {
  @XmlAttribute(name = "type")
  String type;

  @XmlElement(name = "mac")
  Mac mac;

  @XmlElement(name = "ip")
  List<Ip> ips = new ArrayList<>();

  @XmlElement(name = "portForward")
  List<PortForward> portForwards = new ArrayList<>();

  @XmlElement(name = "model")
  Model model;

  @XmlElement(name = "link")
  Link link;

  @XmlElement(name = "address")
  DeviceAddress address;

  public InterfaceDef() {}

  /** {@code user} once parsed. */
  public String getType() {
    return type;
  }

  /** The MAC address, lower case, colon-separated; present once parsed. */
  public String getMac() {
    return mac == null ? null : mac.address;
  }

  /** The device model, e.g. {@code virtio}; present once parsed. */
  public String getModel() {
    return model == null ? null : model.type;
  }

  /** Whether the link is up; {@code <link state='down'/>} starts the guest unplugged. */
  public boolean isLinkUp() {
    return link == null || !"down".equals(link.state);
  }

  /** The card's PCI address, or null until define assigns it. */
  public DeviceAddress getAddress() {
    return address;
  }

  /** {@code <mac address=''/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Mac {
    @XmlAttribute(name = "address")
    String address;
  }

  /** {@code <ip family='ipv4' address='' prefix=''/>}: the network of a user interface. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Ip {
    @XmlAttribute(name = "family")
    String family;

    @XmlAttribute(name = "address")
    String address;

    @XmlAttribute(name = "prefix")
    String prefix;
  }

  /** {@code <portForward proto='' address=''>} with its ranges. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class PortForward {
    @XmlAttribute(name = "proto")
    String proto;

    @XmlAttribute(name = "address")
    String address;

    @XmlAttribute(name = "dev")
    String dev;

    @XmlElement(name = "range")
    List<Range> ranges = new ArrayList<>();
  }

  /**
   * {@code <range start='' end='' to='' exclude=''/>}: host ports {@code start..end} reach guest
   * ports from {@code to} on ({@code to} defaults to {@code start}).
   */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Range {
    @XmlAttribute(name = "start")
    String start;

    @XmlAttribute(name = "end")
    String end;

    @XmlAttribute(name = "to")
    String to;

    @XmlAttribute(name = "exclude")
    String exclude;
  }

  /** {@code <model type=''/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Model {
    @XmlAttribute(name = "type")
    String type;
  }

  /** {@code <link state='up|down'/>}. */
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Link {
    @XmlAttribute(name = "state")
    String state;
  }
}
