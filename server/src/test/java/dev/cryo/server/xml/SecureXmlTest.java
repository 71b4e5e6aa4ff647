package dev.cryo.server.xml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.InvalidArgumentException;
import jakarta.xml.bind.annotation.XmlAccessType;
import jakarta.xml.bind.annotation.XmlAccessorType;
import jakarta.xml.bind.annotation.XmlAnyElement;
import jakarta.xml.bind.annotation.XmlAttribute;
import jakarta.xml.bind.annotation.XmlElement;
import jakarta.xml.bind.annotation.XmlElementWrapper;
import jakarta.xml.bind.annotation.XmlRootElement;
import jakarta.xml.bind.annotation.XmlType;
import jakarta.xml.bind.annotation.XmlValue;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Element;

@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SecureXmlTest {

  /** A small JAXB model in the style of the domain classes. */
  @XmlRootElement(name = "note")
  @XmlAccessorType(XmlAccessType.FIELD)
  @XmlType(propOrder = {"title", "tags", "extra"})
  static final class Note {
    @XmlAttribute(name = "id")
    String id;

    @XmlElement(name = "title")
    Title title;

    @XmlElement(name = "tag")
    List<String> tags = new ArrayList<>();

    @XmlElement(name = "extra")
    Extra extra;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Title {
    @XmlAttribute(name = "lang")
    String lang;

    @XmlValue
    String text;
  }

  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Extra {
    @XmlAnyElement
    List<Element> elements = new ArrayList<>();
  }

  @XmlRootElement(name = "wrapped")
  @XmlAccessorType(XmlAccessType.FIELD)
  static final class Wrapped {
    @XmlElementWrapper(name = "items")
    @XmlElement(name = "item")
    List<String> items = new ArrayList<>();
  }

  private static final String NOTE = """
      <note id='n1'>
        <title lang='en'>Hello &amp; bye</title>
        <tag>a</tag>
        <tag>b</tag>
      </note>
      """;

  @Test
  void unmarshal_bindsElementsAttributesAndEntities() {
    Note note = SecureXml.unmarshal(NOTE, Note.class, "note");

    assertThat(note.id).isEqualTo("n1");
    assertThat(note.title.lang).isEqualTo("en");
    assertThat(note.title.text).isEqualTo("Hello & bye");
    assertThat(note.tags).containsExactly("a", "b");
  }

  @Test
  void unmarshalReportingIgnored_knownDocument_noWarnings() {
    SecureXml.Unmarshalled<Note> read =
        SecureXml.unmarshalReportingIgnored(NOTE, Note.class, "note");

    assertThat(read.warnings()).isEmpty();
    assertThat(read.value().tags).containsExactly("a", "b");
  }

  @Test
  void unmarshalReportingIgnored_unknownContent_reportedOnceWithLine() {
    String xml = """
        <note id='n1' color='red'>
          <title lang='en' font='serif'>Hi</title>
          <priority level='3'>
            <nested/>
          </priority>
          <tag>a</tag>
          <x:ext xmlns:x='urn:x'/>
        </note>
        """;

    SecureXml.Unmarshalled<Note> read =
        SecureXml.unmarshalReportingIgnored(xml, Note.class, "note");

    assertThat(read.warnings()).containsExactly(
        "ignored attribute /note/@color (line 1)",
        "ignored attribute /note/title/@font (line 2)",
        "ignored element /note/priority (line 3)",
        "ignored element /note/x:ext (line 7)");
    assertThat(read.value().tags).containsExactly("a");
  }

  @Test
  void unmarshalReportingIgnored_repeatedSingleElement_rejected() {
    String xml = "<note>\n<title>a</title>\n<title>b</title>\n</note>";

    assertThatThrownBy(() -> SecureXml.unmarshalReportingIgnored(xml, Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessage("note XML has more than one <title> in /note (line 3); keep only one");
  }

  @Test
  void unmarshalReportingIgnored_anyElementContent_keptNotReported() {
    String xml = """
        <note>
          <extra>
            <a:one xmlns:a='urn:a' a:k='v'><a:two/></a:one>
          </extra>
        </note>
        """;

    SecureXml.Unmarshalled<Note> read =
        SecureXml.unmarshalReportingIgnored(xml, Note.class, "note");

    assertThat(read.warnings()).isEmpty();
    Element one = read.value().extra.elements.get(0);
    assertThat(one.getNamespaceURI()).isEqualTo("urn:a");
    assertThat(one.getLocalName()).isEqualTo("one");
    assertThat(one.getAttributeNS("urn:a", "k")).isEqualTo("v");
  }

  @Test
  void unmarshalReportingIgnored_unsupportedMapping_failsLoudly() {
    assertThatThrownBy(() -> SecureXml.unmarshalReportingIgnored(
        "<wrapped/>", Wrapped.class, "wrapped"))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("XmlElementWrapper");
  }

  @Test
  void unmarshal_billionLaughs_rejectedAsDtd() {
    String xml = """
        <?xml version="1.0"?>
        <!DOCTYPE note [
          <!ENTITY lol "lol">
          <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
          <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
          <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
        ]>
        <note><title>&lol3;</title></note>
        """;

    assertThatThrownBy(() -> SecureXml.unmarshal(xml, Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessage("note XML with a DTD (<!DOCTYPE>) is not accepted; remove it");
  }

  @Test
  void unmarshal_externalEntityAndDtd_neverFetched() throws IOException {
    try (ServerSocket listener = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
      String url = "http://127.0.0.1:" + listener.getLocalPort() + "/evil";
      String entity = "<!DOCTYPE note [<!ENTITY x SYSTEM '" + url + "'>]><note><title>&x;</title>"
          + "</note>";
      String externalDtd = "<!DOCTYPE note SYSTEM '" + url + "'><note/>";
      String parameterEntity = "<!DOCTYPE note [<!ENTITY % p SYSTEM '" + url + "'> %p;]><note/>";

      for (String xml : List.of(entity, externalDtd, parameterEntity)) {
        assertThatThrownBy(() -> SecureXml.unmarshal(xml, Note.class, "note"))
            .isInstanceOf(InvalidArgumentException.class)
            .hasMessageContaining("DTD");
      }

      // Parsing is synchronous: a fetch would already be waiting in the backlog.
      listener.setSoTimeout(200);
      assertThatThrownBy(() -> listener.accept().close())
          .isInstanceOf(SocketTimeoutException.class);
    }
  }

  @Test
  void unmarshal_fileEntity_contentNeverAppears(@TempDir Path dir) throws IOException {
    Path secret = dir.resolve("secret.txt");
    Files.writeString(secret, "TOP-SECRET-42", StandardCharsets.UTF_8);
    String xml = "<!DOCTYPE note [<!ENTITY x SYSTEM '" + secret.toUri() + "'>]>"
        + "<note><title>&x;</title></note>";

    assertThatThrownBy(() -> SecureXml.unmarshal(xml, Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("DTD")
        .hasMessageNotContaining("TOP-SECRET");
  }

  @Test
  void unmarshal_undeclaredEntity_rejectedAsMalformed() {
    assertThatThrownBy(() -> SecureXml.unmarshal("<note>\n<title>&x;</title></note>",
        Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("note XML is malformed at line 2")
        .hasMessageContaining("in element /note/title")
        .hasMessageContaining("\"x\"");
  }

  @Test
  void unmarshal_mismatchedTag_namesLineColumnAndElement() {
    String xml = "<note>\n  <title>hi</title>\n  <extra>\n    <a>\n  </extra>\n</note>\n";

    assertThatThrownBy(() -> SecureXml.unmarshal(xml, Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("note XML is malformed at line 5, column ")
        .hasMessageContaining("in element /note/extra/a")
        .hasMessageContaining("</a>");
  }

  @Test
  void unmarshal_trailingContent_rejected() {
    assertThatThrownBy(() -> SecureXml.unmarshal("<note/>\n<note/>", Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageStartingWith("note XML is malformed at line 2");
  }

  @Test
  void unmarshal_wrongRoot_rejected() {
    assertThatThrownBy(() -> SecureXml.unmarshal("<memo/>", Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessage("note XML must have the root element <note>, not <memo>");
  }

  @Test
  void unmarshal_empty_rejected() {
    assertThatThrownBy(() -> SecureXml.unmarshal("  \n", Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessage("note XML is empty");
    assertThatThrownBy(() -> SecureXml.unmarshal("<!-- nothing -->", Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("note XML");
  }

  @Test
  void unmarshal_tooDeep_rejected() {
    String xml = "<note><extra>" + "<a>".repeat(SecureXml.MAX_DEPTH)
        + "</a>".repeat(SecureXml.MAX_DEPTH) + "</extra></note>";

    assertThatThrownBy(() -> SecureXml.unmarshal(xml, Note.class, "note"))
        .isInstanceOf(InvalidArgumentException.class)
        .hasMessageContaining("deeper than " + SecureXml.MAX_DEPTH);
  }

  @Test
  void marshal_twoSpaceIndentNoDeclarationOneNewline() {
    Note note = SecureXml.unmarshal(NOTE, Note.class, "note");

    assertThat(SecureXml.marshal(note)).isEqualTo("""
        <note id="n1">
          <title lang="en">Hello &amp; bye</title>
          <tag>a</tag>
          <tag>b</tag>
        </note>
        """);
  }

  @Test
  void marshal_anyElementContent_roundTripsWithNamespaces() {
    String xml = "<note><extra><a:one xmlns:a='urn:a' a:k='v'><a:two>t</a:two></a:one>"
        + "</extra></note>";

    String once = SecureXml.marshal(SecureXml.unmarshal(xml, Note.class, "note"));
    String twice = SecureXml.marshal(SecureXml.unmarshal(once, Note.class, "note"));

    assertThat(once).contains("<a:one a:k=\"v\" xmlns:a=\"urn:a\">");
    assertThat(twice).isEqualTo(once);
  }
}
