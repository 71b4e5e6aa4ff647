package dev.cryo.server.image;

import dev.cryo.server.domain.DomainDef;
import dev.cryo.server.domain.DomainXml;
import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;

/**
 * The domain XML stored in a save image, and Cryo's integrity record inside it: one element in
 * the domain's {@code <metadata>}, in Cryo's own namespace, which libvirt keeps and ignores:
 *
 * <pre>{@code
 * <metadata>
 *   <cryo:image xmlns:cryo="https://cryo.dev/xmlns/save-image/1"
 *       sha256="(64 hex digits over the stored payload)" payload-bytes="123456"/>
 * </metadata>
 * }</pre>
 */
public final class ImageXml {
  public static final String NAMESPACE = "https://cryo.dev/xmlns/save-image/1";
  static final String ELEMENT = "image";
  private static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");

  private ImageXml() {}

  /** A stored payload's SHA-256 (lower-case hex) and size in bytes. */
  public record Digest(String sha256, long payloadBytes) {
    public Digest {
      if (!HEX64.matcher(sha256).matches()) {
        throw new InvalidArgumentException("a SHA-256 digest is 64 lower-case hex digits, got '"
            + sha256 + "'");
      }
    }
  }

  /**
   * Parses the XML of an image as a domain definition.
   *
   * @throws CryoException {@link Reason#IMAGE_XML_INVALID} naming the problem if it is not a domain
   *     XML
   */
  public static DomainXml.Parsed parse(String xml) {
    try {
      return DomainXml.parse(xml);
    } catch (InvalidArgumentException e) {
      throw new CryoException(
          Reason.IMAGE_XML_INVALID,
          "the domain XML in the save image is not valid: " + e.getMessage(),
          e);
    }
  }

  /**
   * The XML stored in an image Cryo writes: the domain's XML, plus {@code <features><acpi/>
   * </features>} if it has no {@code <features>}. Without it libvirt would start QEMU with {@code
   * -no-acpi}, without the PIIX4_PM device the migration stream carries, and {@code virsh restore}
   * would fail. Parsed definitions always have {@code <features>} now (see {@code FeaturesDef}),
   * so this matters only for XML written before Cryo modelled it.
   */
  public static String forImage(String domainXml) {
    if (domainXml.contains("<features") || !domainXml.contains("</domain>")) {
      return domainXml;
    }
    String features = "  <features>\n    <acpi/>\n  </features>\n";
    int devices = domainXml.indexOf("  <devices>");
    return devices >= 0
        ? domainXml.substring(0, devices) + features + domainXml.substring(devices)
        : domainXml.replace("</domain>", features + "</domain>");
  }

  /** The integrity record in {@code def}'s metadata, if it has one. */
  public static Optional<Digest> digest(DomainDef def) {
    for (Element e : def.getMetadata()) {
      if (NAMESPACE.equals(e.getNamespaceURI()) && ELEMENT.equals(e.getLocalName())) {
        String sha = e.getAttribute("sha256");
        String bytes = e.getAttribute("payload-bytes");
        try {
          return Optional.of(new Digest(sha, Long.parseLong(bytes)));
        } catch (RuntimeException ex) {
          throw new InvalidArgumentException("the Cryo integrity record in the image XML is "
              + "malformed (sha256='" + sha + "', payload-bytes='" + bytes + "')", ex);
        }
      }
    }
    return Optional.empty();
  }

  /** {@code def} without Cryo's integrity record (a copy; {@code def} is not changed). */
  public static DomainDef withoutDigest(DomainDef def) {
    DomainDef copy = def.copy();
    List<Element> kept = new ArrayList<>();
    for (Element e : def.getMetadata()) {
      if (!(NAMESPACE.equals(e.getNamespaceURI()) && ELEMENT.equals(e.getLocalName()))) {
        kept.add(e);
      }
    }
    copy.setMetadata(kept);
    return copy;
  }

  /** {@code def} as XML with {@code digest} as its integrity record, replacing any earlier one. */
  public static String withDigest(DomainDef def, Digest digest) {
    DomainDef copy = withoutDigest(def);
    List<Element> metadata = new ArrayList<>(copy.getMetadata());
    Document doc;
    try {
      DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
      f.setNamespaceAware(true);
      doc = f.newDocumentBuilder().newDocument();
    } catch (ParserConfigurationException e) {
      throw new InternalException("no XML DOM available", e);
    }
    Element e = doc.createElementNS(NAMESPACE, "cryo:" + ELEMENT);
    e.setAttribute("sha256", digest.sha256());
    e.setAttribute("payload-bytes", Long.toString(digest.payloadBytes()));
    metadata.add(e);
    copy.setMetadata(metadata);
    return DomainXml.format(copy);
  }
}
