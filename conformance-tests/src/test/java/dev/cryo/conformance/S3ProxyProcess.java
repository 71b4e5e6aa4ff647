package dev.cryo.conformance;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * A real S3 server for the tests: S3Proxy with its filesystem backend, in its own JVM on a free
 * loopback port, started from the jar the build copies to target/s3proxy. A separate process, so
 * a test can kill it mid-upload and start it again on the same data.
 */
final class S3ProxyProcess implements AutoCloseable {
  static final String IDENTITY = "cryo-test";
  static final String CREDENTIAL = "cryo-test-secret";

  private final Path dir;
  private final int port;
  private Process process;

  private S3ProxyProcess(Path dir, int port) {
    this.dir = dir;
    this.port = port;
  }

  static S3ProxyProcess start(Path dir) throws IOException {
    int port;
    try (ServerSocket s = new ServerSocket(0)) {
      port = s.getLocalPort();
    }
    S3ProxyProcess p = new S3ProxyProcess(dir, port);
    p.launch();
    return p;
  }

  private void launch() throws IOException {
    Path data = Files.createDirectories(dir.resolve("data"));
    Path conf = dir.resolve("s3proxy.conf");
    Files.writeString(conf, String.join("\n",
        "s3proxy.endpoint=" + endpoint(),
        "s3proxy.authorization=aws-v2-or-v4",
        "s3proxy.identity=" + IDENTITY,
        "s3proxy.credential=" + CREDENTIAL,
        "jclouds.provider=filesystem",
        "jclouds.filesystem.basedir=" + data) + "\n");
    String jar = System.getProperty("cryo.s3proxy.jar", "target/s3proxy/s3proxy.jar");
    Path log = dir.resolve("s3proxy.log");
    process = new ProcessBuilder(List.of(
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m", "-jar",
        jar, "--properties", conf.toString()))
        .redirectErrorStream(true).start();
    CompletableFuture<Void> started = new CompletableFuture<>();
    Process p = process;
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(
          new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          Files.writeString(log, line + "\n", java.nio.file.StandardOpenOption.CREATE,
              java.nio.file.StandardOpenOption.APPEND);
          if (line.contains("Started Server@")) {
            started.complete(null);
          }
        }
      } catch (IOException e) {
        // Process gone.
      }
      started.completeExceptionally(new IOException("S3Proxy exited; see " + log));
    }, "s3proxy-stdout");
    reader.setDaemon(true);
    reader.start();
    try {
      started.get(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      process.destroyForcibly();
      throw new IOException("S3Proxy did not start; see " + log, e);
    }
  }

  String endpoint() {
    return "http://127.0.0.1:" + port;
  }

  /** A client with the right credentials, for the test's own checks. */
  S3Client client() {
    return S3Client.builder().endpointOverride(URI.create(endpoint()))
        .region(Region.US_EAST_1).forcePathStyle(true)
        // S3Proxy refuses the trailing checksums newer SDKs send by default (501).
        .requestChecksumCalculation(
            software.amazon.awssdk.core.checksums.RequestChecksumCalculation.WHEN_REQUIRED)
        .httpClient(UrlConnectionHttpClient.create())
        .credentialsProvider(StaticCredentialsProvider.create(
            AwsBasicCredentials.create(IDENTITY, CREDENTIAL)))
        .build();
  }

  /** An AWS shared credentials file for the Cryo server. */
  Path credentialsFile(Path file, String secret) throws IOException {
    Files.writeString(file, "[default]\naws_access_key_id = " + IDENTITY
        + "\naws_secret_access_key = " + secret + "\n");
    return file;
  }

  /** Kills it as {@code kill -9} would. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  /** Starts it again on the same port and data. */
  void restart() throws IOException, InterruptedException {
    kill();
    launch();
  }

  @Override
  public void close() throws InterruptedException {
    kill();
  }
}
