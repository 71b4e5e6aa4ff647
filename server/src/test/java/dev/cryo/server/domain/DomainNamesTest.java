package dev.cryo.server.domain;

import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.InvalidArgumentException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

@Timeout(10)
class DomainNamesTest {

  @ParameterizedTest
  @ValueSource(strings = {"a/b", "/abs", "..", ".", ".hidden", "nul\0", "tab\there", ""})
  void check_unsafeNames_areRejected(String name) {
    assertThatThrownBy(() -> DomainNames.check(name, "snapshot"))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("snapshot name");
  }

  @Test
  void check_tooLong_namesTheLength() {
    assertThatThrownBy(() -> DomainNames.check("x".repeat(300), "domain"))
        .isInstanceOf(InvalidArgumentException.class).hasMessageContaining("300 characters");
  }

  @Test
  void check_ordinaryNames_pass() {
    assertThatCode(() -> DomainNames.check("web-01_ü v2.1", "domain")).doesNotThrowAnyException();
    assertThatCode(() -> DomainNames.check("x".repeat(200), "domain")).doesNotThrowAnyException();
  }
}
