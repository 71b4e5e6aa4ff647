package dev.cryo.conformance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.client.Console;
import dev.cryo.client.CryoException;
import dev.cryo.client.DomainState;
import dev.cryo.client.Domains;
import dev.cryo.client.RestoreOptions;
import dev.cryo.client.Restored;
import dev.cryo.client.SaveOptions;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Guests with network cards on QEMU's user network, as a user sees them: the MACs Cryo generated
 * and stored are the ones the guest sees, every card gets its address by DHCP, the guest's web
 * service answers on the host ports {@code <portForward>} opened, and after a save and restore, or
 * a move to another server (with its disk, which both servers' QEMUs open in turn), it answers
 * again from the same boot with the state it had.
 */
@Timeout(900)
@LocalServer("reaches the guest's forwarded ports on this host")
class NetworkTest {
  static final Pattern NET = Pattern.compile("CRYO NET (\\S+) (\\S+) mac=(\\S+) boot=(\\S+)");
  static final Pattern NICS = Pattern.compile("^NICS( .*)?$");
  static final Pattern SERVICE =
      Pattern.compile("CRYO SERVICE boot=(\\S+) counter=(\\d+) hits=(\\d+)");
  static final Pattern MAC = Pattern.compile("<mac address=\"([0-9a-f:]{17})\"/>");

  @TempDir static Path temp;
  static CryoTarget a;
  static CryoTarget b;
  static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build();

  @BeforeAll
  static void startServers() throws Exception {
    TestGuest.dir();
    a = CryoTarget.start(Files.createDirectories(temp.resolve("a")));
    // A guest moving between two servers on one host keeps its disk in a folder both may use.
    b = CryoTarget.start(Files.createDirectories(temp.resolve("b")),
        List.of("--image-root", a.imagesDir().toString()));
  }

  @AfterAll
  static void stopServers() throws Exception {
    try {
      a.close();
    } finally {
      b.close();
    }
  }

  @Test
  void cards_guestSeesStoredMacsAndItsServiceAnswersAcrossSaveRestore() throws Exception {
    String name = "net-cards";
    Domains domains = a.client().domains();
    int port0 = freePort();
    int port1 = freePort();
    String nics = forwardedNic("virtio", port0, "")
        + forwardedNic("e1000e", port1, "<ip address='10.0.3.0' prefix='24'/>")
        + "<interface type='user'><link state='down'/></interface>";
    try {
      domains.define(TestGuest.xml(name, 128, 16, null, null, nics));
      String stored = domains.xml(name);
      List<String> macs = MAC.matcher(stored).results().map(m -> m.group(1)).toList();
      assertThat(macs)
          .as("a MAC generated per card, stored")
          .hasSize(3)
          .doesNotHaveDuplicates()
          .allMatch(mac -> mac.startsWith("52:54:00:"));
      assertThat(stored)
          .as("libvirt's default model, written down")
          .contains("<model type=\"rtl8139\"/>");

      domains.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(domains, name);
      Map<String, String> addresses = awaitAddresses(domains, name, 2);
      assertThat(addresses)
          .containsEntry(macs.get(0), "10.0.2.15")
          .containsEntry(macs.get(1), "10.0.3.15");
      assertThat(cards(domains, name))
          .as("MAC -> carrier, as the guest sees it")
          .containsExactlyInAnyOrderEntriesOf(
              Map.of(macs.get(0), "1", macs.get(1), "1", macs.get(2), "0"));

      Matcher first = service(port0);
      assertThat(first.group(1)).isEqualTo(beat.boot());
      assertThat(first.group(3)).isEqualTo("1");
      assertThat(service(port1).group(3)).as("second card, same service").isEqualTo("2");

      beat = GuestProbe.latest(domains, name, beat.checksum());
      String image = a.imagesDir().resolve("net-cards.save").toString();
      a.client().images().saveToServer(name, image, SaveOptions.defaults());
      assertThat(domains.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      assertThatThrownBy(() -> new Socket(InetAddress.getLoopbackAddress(), port0).close())
          .as("the saved guest's QEMU let go of its host port")
          .isInstanceOf(ConnectException.class);

      Restored r = a.client().images().restoreFromServer(image, RestoreOptions.defaults());
      assertThat(r.verified()).isTrue();
      Matcher after = service(port0);
      assertThat(after.group(1)).as("same boot").isEqualTo(beat.boot());
      assertThat(after.group(3)).as("hits kept in guest memory carry on").isEqualTo("3");
      assertThat(Long.parseLong(after.group(2))).isGreaterThan(beat.counter());
      assertThat(service(port1).group(3)).isEqualTo("4");
      GuestProbe.assertCarriesOn(domains, name, beat);
      assertThat(cards(domains, name).get(macs.get(2))).as("link still down").isEqualTo("0");
    } finally {
      LifecycleCleanup.destroyAndUndefine(domains, name);
    }
  }

  @Test
  void move_toAnotherServer_serviceAnswersThereOnTheForwardItsXmlNames() throws Exception {
    String name = "net-mover";
    Domains source = a.client().domains();
    Domains target = b.client().domains();
    int port = freePort();
    String nic = forwardedNic("virtio", port, "");
    Path disk = TestGuest.createQcow2(a.imagesDir().resolve("net-mover.qcow2"), "16M");
    try {
      source.define(TestGuest.xml(name, 128, 16, disk, "qcow2", nic));
      source.start(name);
      GuestProbe.Beat beat = GuestProbe.awaitBooted(source, name);
      awaitAddresses(source, name, 1);
      assertThat(service(port).group(3)).isEqualTo("1");

      // Both servers on one host: the source's QEMU holds the host port until the move is done,
      // so the same forward cannot open on the target. The move fails and nothing changes.
      assertThatThrownBy(
              () ->
                  a.client()
                      .images()
                      .transfer(
                          name,
                          SaveOptions.defaults(),
                          b.client().images(),
                          RestoreOptions.defaults()))
          .isInstanceOfSatisfying(
              CryoException.class,
              e -> {
                assertThat(e.code()).isEqualTo(CryoException.ErrorCode.FAILED_PRECONDITION);
                assertThat(e.reason()).isEqualTo(CryoException.Reason.HOST_PORT_IN_USE);
                assertThat(e.getMessage()).contains("port " + port);
              });
      assertThat(source.get(name).state()).isEqualTo(DomainState.RUNNING);
      assertThat(target.list(Set.of()).stream().map(d -> d.name())).doesNotContain(name);
      Matcher still = service(port);
      assertThat(still.group(1)).isEqualTo(beat.boot());
      assertThat(still.group(3)).isEqualTo("2");

      int moved = freePort();
      String xml = source.xml(name).replace("start=\"" + port + "\"", "start=\"" + moved + "\"");
      beat = GuestProbe.latest(source, name, beat.checksum());
      Restored r =
          a.client()
              .images()
              .transfer(
                  name,
                  SaveOptions.defaults(),
                  b.client().images(),
                  RestoreOptions.defaults().replacementXml(xml))
              .restored();
      assertThat(r.verified()).isTrue();
      assertThat(source.get(name).state()).isEqualTo(DomainState.SHUTOFF);
      Matcher there = service(moved);
      assertThat(there.group(1)).as("same boot, other server").isEqualTo(beat.boot());
      assertThat(there.group(3)).isEqualTo("3");
      GuestProbe.assertCarriesOn(target, name, beat);
      assertThat(MAC.matcher(target.xml(name)).results().map(m -> m.group(1)))
          .as("the card keeps its MAC")
          .containsExactlyElementsOf(MAC.matcher(xml).results().map(m -> m.group(1)).toList());
    } finally {
      LifecycleCleanup.destroyAndUndefine(source, name);
      LifecycleCleanup.destroyAndUndefine(target, name);
    }
  }

  /** A card whose host {@code port} on 127.0.0.1 reaches the guest's service on 8080. */
  static String forwardedNic(String model, int port, String more) {
    return """
        <interface type='user'>
          %s
          <portForward proto='tcp' address='127.0.0.1'><range start='%d' to='8080'/></portForward>
          <model type='%s'/>
        </interface>
        """.formatted(more, port, model);
  }

  /** Waits for {@code count} cards to announce their DHCP address; MAC to address. */
  static Map<String, String> awaitAddresses(Domains domains, String name, int count) {
    Map<String, String> addresses = new HashMap<>();
    try (Console c = domains.console(name)) {
      while (addresses.size() < count) {
        Matcher m = c.awaitLine(NET, GuestProbe.LINE);
        addresses.put(m.group(3), m.group(2));
      }
    }
    return addresses;
  }

  /** The guest's cards: MAC to link carrier ("1" up, "0" down). */
  private static Map<String, String> cards(Domains domains, String name) {
    Map<String, String> cards = new HashMap<>();
    try (Console c = domains.console(name)) {
      c.skipReceived();
      c.sendLine("nics");
      String line = c.awaitLine(NICS, GuestProbe.LINE).group(0);
      for (String card : line.substring("NICS".length()).trim().split(" ")) {
        String[] parts = card.split(",");
        cards.put(parts[1], parts[2]);
      }
    }
    return cards;
  }

  /** GETs the guest's service through a forwarded host port. */
  static Matcher service(int port) throws IOException, InterruptedException {
    HttpResponse<String> response =
        HTTP.send(
            HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/cgi-bin/state"))
                .timeout(Duration.ofSeconds(60))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    assertThat(response.statusCode()).isEqualTo(200);
    Matcher m = SERVICE.matcher(response.body());
    assertThat(m.find()).as("service answer: %s", response.body()).isTrue();
    return m;
  }

  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
