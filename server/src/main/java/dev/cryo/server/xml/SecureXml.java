package dev.cryo.server.xml;

import dev.cryo.server.error.InternalException;
import dev.cryo.server.error.InvalidArgumentException;
import jakarta.xml.bind.JAXBContext;
import jakarta.xml.bind.JAXBElement;
import jakarta.xml.bind.JAXBException;
import jakarta.xml.bind.Marshaller;
import jakarta.xml.bind.Unmarshaller;
import jakarta.xml.bind.annotation.XmlRootElement;
import java.io.StringReader;
import java.io.StringWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import javax.xml.XMLConstants;
import javax.xml.stream.Location;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;

/**
 * The one way the server reads and writes XML (domain, snapshot and checkpoint documents).
 *
 * <p>Reading goes through StAX with DTD support and external entities switched off, and a
 * document that has a {@code <!DOCTYPE>} at all is refused outright, so entity expansion
 * ("billion laughs") and external entities (XXE) are never processed, not even silently ignored.
 * The only entities a document may use are XML's five predefined ones and character references.
 * JAXB then binds the StAX stream to the annotated class. Elements may nest at most {@value
 * #MAX_DEPTH} deep.
 *
 * <p>Every failure is an {@link InvalidArgumentException} whose message starts with the {@code
 * what} the caller passed (e.g. "domain XML is malformed at line 7, column 3 in element
 * /domain/devices: ...").
 *
 * <p>Writing produces libvirt-style output: no XML declaration, two-space indentation, one
 * trailing newline. Unlike libvirt, attribute values are written in double quotes (JAXB has no
 * option for single quotes); both are the same XML.
 *
 * <p>All methods are thread-safe. {@link JAXBContext}s are cached per root class.
 */
public final class SecureXml {
  /** The deepest element nesting accepted; libvirt documents need fewer than ten levels. */
  public static final int MAX_DEPTH = 64;

  private static final Map<Class<?>, JAXBContext> CONTEXTS = new ConcurrentHashMap<>();
  private static final String INDENT_PROPERTY = "org.glassfish.jaxb.indentString";

  private SecureXml() {}

  /**
   * What {@link #unmarshalReportingIgnored} returns: the bound object and one warning per element
   * or attribute that the class does not bind and JAXB therefore dropped.
   *
   * @param value the unmarshalled root object
   * @param warnings in document order, e.g. {@code ignored element /domain/devices/interface (line
   *     31)} or {@code ignored attribute /domain/vcpu/@cpuset (line 9)}
   */
  public record Unmarshalled<T>(T value, List<String> warnings) {
    public Unmarshalled {
      warnings = List.copyOf(warnings);
    }
  }

  /**
   * Reads {@code xml} into a new {@code type}, silently dropping content the class does not bind.
   *
   * @param type a JAXB class; if it has {@link XmlRootElement} with a name, the document's root
   *     element must have that name
   * @param what what the document is, for messages (e.g. "domain")
   * @throws InvalidArgumentException if the XML is empty, malformed, has a DTD, nests too deep or
   *     has the wrong root element
   */
  public static <T> T unmarshal(String xml, Class<T> type, String what) {
    return read(xml, type, what, false).value();
  }

  /**
   * Like {@link #unmarshal} and also reports, with its line, every element and attribute the
   * class does not bind. The report covers the classes reachable from {@code type}, which must
   * use {@code @XmlAccessorType(XmlAccessType.FIELD)} and unqualified names; the subtree under an
   * unknown element is reported once, as that element, and the children of an {@code
   * @XmlAnyElement} field are kept by JAXB and not reported. The line is that of the end of the
   * element's start tag. Text where the class binds none (other than whitespace) is dropped
   * without a report.
   *
   * <p>A bound element that is not a list but occurs twice in one parent is refused, since JAXB
   * would silently keep the last one.
   *
   * @throws InvalidArgumentException as {@link #unmarshal} does, or for a repeated single element
   * @throws IllegalStateException if {@code type} uses a JAXB mapping the report cannot follow
   */
  public static <T> Unmarshalled<T> unmarshalReportingIgnored(
      String xml, Class<T> type, String what) {
    return read(xml, type, what, true);
  }

  /**
   * Writes a JAXB root object (a class with {@link XmlRootElement}) as libvirt-style XML: no
   * declaration, two-space indentation, ending in one newline.
   *
   * @throws InternalException if JAXB cannot write the object (a programming error)
   */
  public static String marshal(Object jaxbRoot) {
    try {
      Marshaller marshaller = context(jaxbRoot.getClass()).createMarshaller();
      marshaller.setProperty(Marshaller.JAXB_FORMATTED_OUTPUT, true);
      marshaller.setProperty(Marshaller.JAXB_FRAGMENT, true);
      marshaller.setProperty(INDENT_PROPERTY, "  ");
      StringWriter out = new StringWriter();
      marshaller.marshal(jaxbRoot, out);
      return out.toString().strip() + "\n";
    } catch (JAXBException e) {
      throw new InternalException("could not write " + jaxbRoot.getClass().getSimpleName()
          + " as XML: " + e, e);
    }
  }

  private static <T> Unmarshalled<T> read(String xml, Class<T> type, String what, boolean report) {
    if (xml == null || xml.isBlank()) {
      throw new InvalidArgumentException(what + " XML is empty");
    }
    // Input factories and unmarshallers are not promised to be thread-safe, and both are cheap
    // next to the parse, so each call builds its own.
    List<String> warnings = new ArrayList<>();
    TrackingReader reader = null;
    try {
      reader = new TrackingReader(newInputFactory().createXMLStreamReader(new StringReader(xml)),
          what, report ? warnings : null);
      moveToRoot(reader, what);
      checkRootName(reader, type, what);
      reader.enterRoot(report ? JaxbShape.of(type) : null);
      JAXBElement<T> element = unmarshaller(type).unmarshal(reader, type);
      // JAXB stops after the root's end tag; reading on makes trailing garbage an error.
      while (reader.hasNext()) {
        reader.next();
      }
      return new Unmarshalled<>(element.getValue(), warnings);
    } catch (XMLStreamException e) {
      throw malformed(what, e, reader);
    } catch (JAXBException e) {
      InvalidArgumentException own = causeOf(e, InvalidArgumentException.class);
      if (own != null) {
        throw own;
      }
      XMLStreamException stax = causeOf(e, XMLStreamException.class);
      if (stax != null) {
        throw malformed(what, stax, reader);
      }
      throw new InvalidArgumentException(what + " XML could not be read: " + detail(e), e);
    }
  }

  private static Unmarshaller unmarshaller(Class<?> type) {
    try {
      return context(type).createUnmarshaller();
    } catch (JAXBException e) {
      throw new InternalException("could not set up reading " + type.getSimpleName()
          + " XML: " + e, e);
    }
  }

  private static XMLInputFactory newInputFactory() {
    // The JDK's own implementation, whatever else is on the class path, so that the properties
    // below mean what they say.
    XMLInputFactory factory = XMLInputFactory.newDefaultFactory();
    factory.setProperty(XMLInputFactory.SUPPORT_DTD, false);
    factory.setProperty(XMLInputFactory.IS_SUPPORTING_EXTERNAL_ENTITIES, false);
    factory.setProperty(XMLConstants.ACCESS_EXTERNAL_DTD, "");
    factory.setXMLResolver((publicId, systemId, baseUri, namespace) -> {
      throw new XMLStreamException("external entities are not resolved: " + systemId);
    });
    return factory;
  }

  /** Reads the prolog, refusing a DTD, up to the root element's start tag. */
  private static void moveToRoot(XMLStreamReader reader, String what)
      throws XMLStreamException {
    while (reader.getEventType() != XMLStreamConstants.START_ELEMENT) {
      if (!reader.hasNext()) {
        throw new InvalidArgumentException(what + " XML has no root element");
      }
      if (reader.next() == XMLStreamConstants.DTD) {
        throw new InvalidArgumentException(
            what + " XML with a DTD (<!DOCTYPE>) is not accepted; remove it");
      }
    }
  }

  private static void checkRootName(XMLStreamReader reader, Class<?> type, String what) {
    XmlRootElement root = type.getAnnotation(XmlRootElement.class);
    if (root == null || root.name().equals("##default")) {
      return;
    }
    String namespace = reader.getNamespaceURI() == null ? "" : reader.getNamespaceURI();
    String expectedNamespace = root.namespace().equals("##default") ? "" : root.namespace();
    if (!reader.getLocalName().equals(root.name()) || !namespace.equals(expectedNamespace)) {
      throw new InvalidArgumentException(what + " XML must have the root element <" + root.name()
          + ">, not <" + TrackingReader.qualifiedName(reader) + ">");
    }
  }

  private static InvalidArgumentException malformed(
      String what, XMLStreamException e, TrackingReader reader) {
    StringBuilder message = new StringBuilder(what).append(" XML is malformed");
    Location location = e.getLocation();
    if (location != null && location.getLineNumber() > 0) {
      message.append(" at line ").append(location.getLineNumber());
      if (location.getColumnNumber() > 0) {
        message.append(", column ").append(location.getColumnNumber());
      }
    }
    String element = reader == null ? null : reader.currentPath();
    if (element != null) {
      message.append(" in element ").append(element);
    }
    return new InvalidArgumentException(message.append(": ").append(detail(e)).toString(), e);
  }

  /** The parser's own words, without the "ParseError at [row,col]" prefix the JDK adds. */
  private static String detail(Throwable e) {
    String message = e.getMessage();
    if (message == null) {
      return e.getClass().getSimpleName();
    }
    int index = message.indexOf("Message: ");
    return index >= 0 ? message.substring(index + "Message: ".length()).strip() : message.strip();
  }

  private static <E extends Throwable> E causeOf(Throwable e, Class<E> type) {
    Throwable t = e;
    for (int depth = 0; t != null && depth < 20; depth++, t = next(t)) {
      if (type.isInstance(t)) {
        return type.cast(t);
      }
    }
    return null;
  }

  private static Throwable next(Throwable t) {
    if (t.getCause() != null && t.getCause() != t) {
      return t.getCause();
    }
    if (t instanceof JAXBException jaxb && jaxb.getLinkedException() != t) {
      return jaxb.getLinkedException();
    }
    if (t instanceof XMLStreamException stax && stax.getNestedException() != t) {
      return stax.getNestedException();
    }
    return null;
  }

  private static JAXBContext context(Class<?> type) {
    return CONTEXTS.computeIfAbsent(type, t -> {
      try {
        return JAXBContext.newInstance(t);
      } catch (JAXBException e) {
        throw new InternalException("no JAXB binding for " + t.getName() + ": " + e, e);
      }
    });
  }
}
