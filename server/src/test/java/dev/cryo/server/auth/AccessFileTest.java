package dev.cryo.server.auth;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class AccessFileTest {
  private static final String HASH = "sha256:" + "ab".repeat(32);

  @Test
  void parse_principalNamedLikeTheServersOwn_isRefusedWithItsLine() {
    for (String reserved : new String[] {"local", "cryo-internal"}) {
      byte[] file = ("# who\ntoken " + HASH + " " + reserved + " admin\n")
          .getBytes(StandardCharsets.UTF_8);
      assertThatThrownBy(() -> AccessFile.parse("/etc/cryo/access", file))
          .isInstanceOf(IOException.class)
          .hasMessageContaining("/etc/cryo/access line 2")
          .hasMessageContaining("'" + reserved + "' is a name the server keeps for itself");
    }
  }
}
