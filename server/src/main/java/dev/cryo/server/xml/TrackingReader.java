package dev.cryo.server.xml;

import dev.cryo.server.error.InvalidArgumentException;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.xml.namespace.QName;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;
import javax.xml.stream.util.StreamReaderDelegate;

/**
 * The StAX reader JAXB pulls from. It keeps the path of the current element (for messages),
 * enforces {@link SecureXml#MAX_DEPTH}, and, given the {@link JaxbShape} of the root, records a
 * warning with the line number for each element and attribute the shape does not know, as JAXB
 * reads past them. Not thread-safe.
 */
final class TrackingReader extends StreamReaderDelegate {
  /**
   * An open element; {@code shape} is null where nothing is checked (unknown or kept subtree).
   * {@code seen} holds the single-valued children met so far.
   */
  private record Frame(String path, JaxbShape shape, Set<QName> seen) {
    Frame(String path, JaxbShape shape) {
      this(path, shape, shape == null ? null : new HashSet<>());
    }
  }

  private final Deque<Frame> open = new ArrayDeque<>();
  private final String what;
  private final List<String> warnings;

  /**
   * @param what what the document is, for messages (e.g. "domain")
   * @param warnings where to add warnings, or null to report nothing
   */
  TrackingReader(XMLStreamReader reader, String what, List<String> warnings) {
    super(reader);
    this.what = what;
    this.warnings = warnings;
  }

  /** Called with the reader on the root's start tag, before JAXB sees it. */
  void enterRoot(JaxbShape rootShape) {
    String path = "/" + qualifiedName(this);
    open.push(new Frame(path, rootShape));
    if (rootShape != null) {
      checkAttributes(path, rootShape);
    }
  }

  /** The path of the innermost open element, e.g. {@code /domain/devices}, or null. */
  String currentPath() {
    Frame top = open.peek();
    return top == null ? null : top.path();
  }

  @Override
  public int next() throws XMLStreamException {
    int event = super.next();
    // Before enterRoot (the prolog) and after the root's end tag there is nothing to track.
    if (!open.isEmpty()) {
      if (event == XMLStreamConstants.START_ELEMENT) {
        startElement();
      } else if (event == XMLStreamConstants.END_ELEMENT) {
        open.pop();
      }
    }
    return event;
  }

  // JAXB only calls next(); these two are routed through it so the path stays right for any
  // other caller too.

  @Override
  public int nextTag() throws XMLStreamException {
    int event = next();
    while (event == XMLStreamConstants.SPACE || event == XMLStreamConstants.COMMENT
        || event == XMLStreamConstants.PROCESSING_INSTRUCTION
        || (event == XMLStreamConstants.CHARACTERS && isWhiteSpace())) {
      event = next();
    }
    if (event != XMLStreamConstants.START_ELEMENT && event != XMLStreamConstants.END_ELEMENT) {
      throw new XMLStreamException("expected a start or end tag", getLocation());
    }
    return event;
  }

  @Override
  public String getElementText() throws XMLStreamException {
    if (getEventType() != XMLStreamConstants.START_ELEMENT) {
      throw new XMLStreamException("not at a start tag", getLocation());
    }
    StringBuilder text = new StringBuilder();
    for (int event = next(); event != XMLStreamConstants.END_ELEMENT; event = next()) {
      switch (event) {
        case XMLStreamConstants.CHARACTERS, XMLStreamConstants.CDATA, XMLStreamConstants.SPACE,
            XMLStreamConstants.ENTITY_REFERENCE -> text.append(getText());
        case XMLStreamConstants.COMMENT, XMLStreamConstants.PROCESSING_INSTRUCTION -> { }
        default -> throw new XMLStreamException("element text contains markup", getLocation());
      }
    }
    return text.toString();
  }

  private void startElement() {
    Frame parent = open.peek();
    String path = parent.path() + "/" + qualifiedName(this);
    if (open.size() >= SecureXml.MAX_DEPTH) {
      throw new InvalidArgumentException(what + " XML nests elements deeper than "
          + SecureXml.MAX_DEPTH + " levels at line " + line() + " (" + path + ")");
    }
    JaxbShape shape = null;
    if (parent.shape() != null) {
      QName name = getName();
      shape = parent.shape().child(name);
      if (shape != null && !parent.shape().isRepeatable(name) && !parent.seen().add(name)) {
        // JAXB would silently keep the last one and libvirt the first: refuse to guess.
        throw new InvalidArgumentException(what + " XML has more than one <"
            + qualifiedName(this) + "> in " + parent.path() + " (line " + line()
            + "); keep only one");
      }
      if (shape == null) {
        if (!parent.shape().keepsUnknownElements()) {
          warn("ignored element " + path);
        }
      } else {
        checkAttributes(path, shape);
      }
    }
    open.push(new Frame(path, shape));
  }

  private void checkAttributes(String path, JaxbShape shape) {
    if (shape.keepsUnknownAttributes()) {
      return;
    }
    for (int i = 0; i < getAttributeCount(); i++) {
      QName name = getAttributeName(i);
      if (!shape.hasAttribute(name)) {
        warn("ignored attribute " + path + "/@" + qualified(name));
      }
    }
  }

  private void warn(String what) {
    if (warnings != null) {
      warnings.add(what + " (line " + line() + ")");
    }
  }

  private int line() {
    return getLocation().getLineNumber();
  }

  static String qualifiedName(XMLStreamReader reader) {
    return qualified(reader.getName());
  }

  private static String qualified(QName name) {
    return name.getPrefix().isEmpty()
        ? name.getLocalPart()
        : name.getPrefix() + ":" + name.getLocalPart();
  }
}
