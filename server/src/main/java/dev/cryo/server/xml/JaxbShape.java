package dev.cryo.server.xml;

import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAnyAttribute;
import jakarta.xml.bind.annotation.XmlAnyElement;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlElementRef;
import jakarta.xml.bind.annotation.XmlElementRefs;
import jakarta.xml.bind.annotation.XmlElementWrapper;
import jakarta.xml.bind.annotation.XmlElements;
import jakarta.xml.bind.annotation.XmlMixed;
import jakarta.xml.bind.annotation.XmlTransient;
import jakarta.xml.bind.annotation.XmlValue;
import jakarta.xml.bind.annotation.adapters.XmlJavaTypeAdapter;
import java.lang.annotation.Annotation;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.Type;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import javax.xml.namespace.QName;

/**
 * The element and attribute names a JAXB class binds, read from its annotations, so that {@link
 * TrackingReader} can tell which parts of a document JAXB will drop. Deriving it from the
 * annotations keeps the bound classes the only description of the format.
 *
 * <p>It follows the subset of JAXB the server's XML classes use: field access, {@code
 * XmlElement}, {@code XmlAttribute}, {@code XmlValue}, {@code XmlAnyElement}, {@code
 * XmlAnyAttribute}, unqualified names. Anything else fails loudly when the shape is built rather
 * than give a wrong report. Immutable once built.
 */
final class JaxbShape {
  private static final Map<Class<?>, JaxbShape> CACHE = new ConcurrentHashMap<>();
  private static final JaxbShape TEXT = new JaxbShape();
  private static final List<Class<? extends Annotation>> UNSUPPORTED = List.of(
      XmlElements.class, XmlElementRef.class, XmlElementRefs.class, XmlElementWrapper.class,
      XmlMixed.class, XmlJavaTypeAdapter.class);

  private final Map<QName, JaxbShape> children = new HashMap<>();
  private final Set<QName> repeatable = new HashSet<>();
  private final Set<QName> attributes = new HashSet<>();
  private boolean keepsUnknownElements;
  private boolean keepsUnknownAttributes;

  private JaxbShape() {}

  /** The shape of {@code type} and everything reachable from it. */
  static JaxbShape of(Class<?> type) {
    return CACHE.computeIfAbsent(type, t -> build(t, new HashMap<>()));
  }

  /** The shape of the child element {@code name}, or null if JAXB does not bind it. */
  JaxbShape child(QName name) {
    return children.get(name);
  }

  /** Whether the child element {@code name} is bound to a collection and may occur repeatedly. */
  boolean isRepeatable(QName name) {
    return repeatable.contains(name);
  }

  boolean hasAttribute(QName name) {
    return attributes.contains(name);
  }

  /** Whether an {@code @XmlAnyElement} field keeps child elements that are not bound by name. */
  boolean keepsUnknownElements() {
    return keepsUnknownElements;
  }

  boolean keepsUnknownAttributes() {
    return keepsUnknownAttributes;
  }

  private static JaxbShape build(Class<?> type, Map<Class<?>, JaxbShape> building) {
    if (isText(type)) {
      return TEXT;
    }
    JaxbShape known = building.get(type);
    if (known != null) {
      return known; // a recursive type; it is filled in further up the stack
    }
    requireFieldAccess(type);
    JaxbShape shape = new JaxbShape();
    building.put(type, shape);
    for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
      for (Field field : c.getDeclaredFields()) {
        addField(shape, field, building);
      }
    }
    return shape;
  }

  private static void addField(JaxbShape shape, Field field, Map<Class<?>, JaxbShape> building) {
    int modifiers = field.getModifiers();
    if (Modifier.isStatic(modifiers) || Modifier.isTransient(modifiers)
        || field.isSynthetic() || field.isAnnotationPresent(XmlTransient.class)) {
      return;
    }
    for (Class<? extends Annotation> unsupported : UNSUPPORTED) {
      if (field.isAnnotationPresent(unsupported)) {
        throw new IllegalStateException("SecureXml cannot report ignored content for "
            + field + ": @" + unsupported.getSimpleName() + " is not supported");
      }
    }
    XmlAttribute attribute = field.getAnnotation(XmlAttribute.class);
    if (attribute != null) {
      shape.attributes.add(new QName(namespace(attribute.namespace()),
          name(attribute.name(), field)));
      return;
    }
    if (field.isAnnotationPresent(XmlAnyAttribute.class)) {
      shape.keepsUnknownAttributes = true;
      return;
    }
    if (field.isAnnotationPresent(XmlAnyElement.class)) {
      shape.keepsUnknownElements = true;
      return;
    }
    if (field.isAnnotationPresent(XmlValue.class)) {
      return;
    }
    // An element: annotated, or by default under field access.
    XmlElement element = field.getAnnotation(XmlElement.class);
    String name = name(element == null ? "##default" : element.name(), field);
    String namespace = namespace(element == null ? "##default" : element.namespace());
    Class<?> elementType = element != null && element.type() != XmlElement.DEFAULT.class
        ? element.type()
        : elementType(field);
    QName qname = new QName(namespace, name);
    shape.children.put(qname, build(elementType, building));
    if (Collection.class.isAssignableFrom(field.getType())) {
      shape.repeatable.add(qname);
    }
  }

  private static Class<?> elementType(Field field) {
    if (!Collection.class.isAssignableFrom(field.getType())) {
      return field.getType();
    }
    Type generic = field.getGenericType();
    if (generic instanceof ParameterizedType p
        && p.getActualTypeArguments()[0] instanceof Class<?> item) {
      return item;
    }
    throw new IllegalStateException("SecureXml cannot report ignored content for " + field
        + ": the collection's element type is not a plain class");
  }

  private static void requireFieldAccess(Class<?> type) {
    XmlAccessorType access = type.getAnnotation(XmlAccessorType.class);
    if (access == null) {
      access = type.getPackage().getAnnotation(XmlAccessorType.class);
    }
    if (access == null || access.value() != XmlAccessType.FIELD) {
      throw new IllegalStateException("SecureXml cannot report ignored content for " + type
          + ": it needs @XmlAccessorType(XmlAccessType.FIELD)");
    }
  }

  private static boolean isText(Class<?> type) {
    return type.isPrimitive() || type.isEnum() || type.getName().startsWith("java.");
  }

  private static String name(String annotated, Field field) {
    return annotated.equals("##default") ? field.getName() : annotated;
  }

  /** Unqualified names: "##default" is no namespace (no package-level @XmlSchema is read). */
  private static String namespace(String annotated) {
    return annotated.equals("##default") ? "" : annotated;
  }
}
