package dev.cryo.server.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cryo.server.error.Reason;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageRootsTest {
  @TempDir Path root;

  @Test
  void stateFolderInsideAnImageFolder_isNotNameable_butItsImagesFolderIs() throws Exception {
    Path state = root.resolve("state");
    Files.createDirectories(state.resolve("domains"));
    Files.writeString(state.resolve("domains/b1.xml"), "<domain/>");
    ImageRoots roots = new ImageRoots(List.of(state.resolve("images"), root), List.of(state));

    for (String path : List.of(state.resolve("domains/b1.xml").toString(),
        state.resolve("save/b1.save").toString(), state.resolve("new.save").toString())) {
      assertThatThrownBy(() -> roots.confined(path, "disk vda"))
          .as(path)
          .hasFieldOrPropertyWithValue("reason", Reason.PATH_NOT_ALLOWED)
          .hasMessageContaining("outside the server's image folders");
    }
    assertThatThrownBy(() -> roots.existing(state.resolve("domains/b1.xml").toString()))
        .hasFieldOrPropertyWithValue("reason", Reason.PATH_NOT_ALLOWED);
    assertThatThrownBy(() -> roots.forWriting(state.resolve("domains/b2.xml").toString()))
        .hasFieldOrPropertyWithValue("reason", Reason.PATH_NOT_ALLOWED);
    // A link from an image folder into the state folder is refused too: checked after resolving.
    Files.createSymbolicLink(root.resolve("link.xml"), state.resolve("domains/b1.xml"));
    assertThatThrownBy(() -> roots.existing(root.resolve("link.xml").toString()))
        .hasFieldOrPropertyWithValue("reason", Reason.PATH_NOT_ALLOWED);

    assertThat(roots.forWriting(state.resolve("images/b1.save").toString()))
        .isEqualTo(state.resolve("images").toRealPath().resolve("b1.save"));
    assertThat(roots.forWriting(root.resolve("b1.save").toString()).getFileName())
        .hasToString("b1.save");
  }
}
