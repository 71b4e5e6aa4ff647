package dev.cryo.server.store;

import dev.cryo.server.error.CryoException;
import dev.cryo.server.error.InvalidArgumentException;
import dev.cryo.server.error.Reason;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.ProfileCredentialsProvider;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.checksums.RequestChecksumCalculation;
import software.amazon.awssdk.core.checksums.ResponseChecksumValidation;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.exception.SdkException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.profiles.ProfileFile;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Images in an S3-compatible object store (AWS S3, Ceph RGW, MinIO): one bucket and a key prefix
 * per server, as {@link ImageRoots} are folders. A caller names an object as {@code
 * s3://BUCKET/PREFIX/KEY} or as a key relative to the prefix; anything else is refused with
 * PATH_NOT_ALLOWED. Errors of the store become Cryo errors in {@link #translate}.
 */
public final class ObjectStore implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(ObjectStore.class);
  /** S3's smallest part (but the last). */
  public static final int MIN_PART_BYTES = 5 << 20;
  /** Parts uploading at once: memory is (this + 1) parts, whatever the image's size. */
  static final int PARTS_IN_FLIGHT = 2;

  /**
   * How to reach the store.
   *
   * @param endpoint the S3 endpoint, or null for AWS's own endpoint of {@code region}
   * @param bucket the one bucket images live in
   * @param prefix key prefix of every image ("" or ending in "/")
   * @param region signing region (MinIO and Ceph accept "us-east-1")
   * @param pathStyle {@code http://host/bucket/key} rather than {@code http://bucket.host/key}
   *     (MinIO and most Ceph RGW set-ups need it)
   * @param credentialsFile an AWS shared credentials file, or null for AWS's default chain
   *     (environment, system properties, ~/.aws, instance role)
   * @param profile the profile to use in {@code credentialsFile}
   * @param partBytes bytes per multipart upload part, at least {@link #MIN_PART_BYTES}
   */
  public record Config(URI endpoint, String bucket, String prefix, String region,
      boolean pathStyle, Path credentialsFile, String profile, int partBytes) {
    public static final int DEFAULT_PART_BYTES = 8 << 20;

    public Config {
      if (bucket == null || !bucket.matches("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")) {
        throw new IllegalArgumentException("object store bucket '" + bucket + "' is not a valid "
            + "S3 bucket name (3-63 lower-case letters, digits, '.' and '-')");
      }
      prefix = prefix == null ? "" : prefix;
      if (prefix.startsWith("/") || prefix.contains("//") || hasDotSegment(prefix)) {
        throw new IllegalArgumentException("object store prefix '" + prefix + "' must be "
            + "relative, without empty, '.' or '..' parts");
      }
      if (!prefix.isEmpty() && !prefix.endsWith("/")) {
        prefix = prefix + "/";
      }
      region = region == null || region.isBlank() ? "us-east-1" : region;
      profile = profile == null || profile.isBlank() ? "default" : profile;
      if (partBytes < MIN_PART_BYTES) {
        throw new IllegalArgumentException("object store part size must be at least "
            + MIN_PART_BYTES + " bytes (S3's minimum), not " + partBytes);
      }
    }
  }

  /** An object the server may read or write, inside its bucket and prefix. */
  public record Location(String bucket, String key) {
    /** {@code s3://BUCKET/KEY}. */
    public String uri() {
      return "s3://" + bucket + "/" + key;
    }
  }

  private final Config config;
  private final S3Client s3;

  private ObjectStore(Config config, S3Client s3) {
    this.config = config;
    this.s3 = s3;
  }

  /** Builds the client; no request is made until the first call. */
  public static ObjectStore open(Config config) {
    AwsCredentialsProvider creds = config.credentialsFile() == null
        ? DefaultCredentialsProvider.builder().build()
        : ProfileCredentialsProvider.builder()
            .profileFile(ProfileFile.builder().content(config.credentialsFile())
                .type(ProfileFile.Type.CREDENTIALS).build())
            .profileName(config.profile()).build();
    var b = S3Client.builder()
        .region(Region.of(config.region()))
        .credentialsProvider(creds)
        .forcePathStyle(config.pathStyle())
        // Checksums only where S3 requires them: Ceph RGW, MinIO and older S3 servers reject
        // the trailing checksums newer SDKs send by default.
        .requestChecksumCalculation(RequestChecksumCalculation.WHEN_REQUIRED)
        .responseChecksumValidation(ResponseChecksumValidation.WHEN_REQUIRED)
        .httpClientBuilder(UrlConnectionHttpClient.builder()
            .connectionTimeout(Duration.ofSeconds(10))
            .socketTimeout(Duration.ofSeconds(60)));
    if (config.endpoint() != null) {
      b.endpointOverride(config.endpoint());
    }
    return new ObjectStore(config, b.build());
  }

  public Config config() {
    return config;
  }

  /**
   * The object a caller names: {@code s3://BUCKET/PREFIX/KEY}, or {@code KEY} under the prefix.
   *
   * @throws CryoException PATH_NOT_ALLOWED outside the bucket and prefix or with a {@code ..},
   *     {@code .} or empty part; INVALID_ARGUMENT if empty
   */
  public Location resolve(String given) {
    if (given == null || given.isEmpty()) {
      throw new InvalidArgumentException("an object key is required");
    }
    String key;
    if (given.startsWith("s3://")) {
      String rest = given.substring("s3://".length());
      int slash = rest.indexOf('/');
      String bucket = slash < 0 ? rest : rest.substring(0, slash);
      if (!bucket.equals(config.bucket()) || slash < 0) {
        throw outside(given);
      }
      key = rest.substring(slash + 1);
      if (!key.startsWith(config.prefix())) {
        throw outside(given);
      }
    } else {
      key = config.prefix() + given;
    }
    String relative = key.substring(config.prefix().length());
    if (relative.isEmpty() || relative.startsWith("/") || relative.endsWith("/")
        || relative.contains("//") || hasDotSegment(relative) || relative.indexOf('\\') >= 0
        || relative.chars().anyMatch(c -> c < 0x20 || c == 0x7f) || key.length() > 1024) {
      throw new CryoException(Reason.PATH_NOT_ALLOWED, "object key '" + given + "' is not "
          + "allowed: name an object under " + root() + " without empty, '.' or '..' parts");
    }
    return new Location(config.bucket(), key);
  }

  private CryoException outside(String given) {
    return new CryoException(Reason.PATH_NOT_ALLOWED, "object " + given + " is outside the "
        + "server's object store; use a key under " + root());
  }

  private String root() {
    return "s3://" + config.bucket() + "/" + config.prefix();
  }

  private static boolean hasDotSegment(String s) {
    for (String part : s.split("/", -1)) {
      if (part.equals(".") || part.equals("..")) {
        return true;
      }
    }
    return false;
  }

  /**
   * Starts a multipart upload to {@code loc}: the store's credentials and bucket are checked
   * here, before anything else happens.
   */
  public Upload startUpload(Location loc) {
    try {
      String id = s3.createMultipartUpload(r -> r.bucket(loc.bucket()).key(loc.key())
          .contentType("application/octet-stream")).uploadId();
      return new Upload(loc, id);
    } catch (SdkException e) {
      throw translate(e, loc, "start an upload to");
    }
  }

  /** The whole object as a stream (one GET); close it to abort the transfer. */
  public InputStream read(Location loc) {
    try {
      return s3.getObject(r -> r.bucket(loc.bucket()).key(loc.key()));
    } catch (SdkException e) {
      throw translate(e, loc, "read");
    }
  }

  /** Bytes of a range of an object, and the object's size. */
  public record Range(byte[] bytes, long objectBytes) {}

  /** Bytes {@code first} to {@code last} (inclusive, clamped to the object's end). */
  public Range range(Location loc, long first, long last) {
    try {
      ResponseBytes<GetObjectResponse> r = s3.getObjectAsBytes(b -> b.bucket(loc.bucket())
          .key(loc.key()).range("bytes=" + first + "-" + last));
      String cr = r.response().contentRange();
      long size = cr != null && cr.contains("/")
          ? Long.parseLong(cr.substring(cr.indexOf('/') + 1).trim())
          : r.response().contentLength();
      return new Range(r.asByteArray(), size);
    } catch (SdkException e) {
      throw translate(e, loc, "read");
    }
  }

  /** True if {@code loc} exists. */
  public boolean exists(Location loc) {
    try {
      s3.headObject(r -> r.bucket(loc.bucket()).key(loc.key()));
      return true;
    } catch (software.amazon.awssdk.services.s3.model.NoSuchKeyException e) {
      return false;
    } catch (SdkException e) {
      throw translate(e, loc, "look up");
    }
  }

  /** Deletes {@code loc}; nothing if it is not there. */
  public void delete(Location loc) {
    try {
      s3.deleteObject(r -> r.bucket(loc.bucket()).key(loc.key()));
    } catch (SdkException e) {
      throw translate(e, loc, "delete");
    }
  }

  /** The one table from the store's errors to Cryo's. */
  CryoException translate(SdkException e, Location loc, String what) {
    String bucket = loc.bucket();
    if (e instanceof S3Exception s3e) {
      String code = s3e.awsErrorDetails() == null ? null : s3e.awsErrorDetails().errorCode();
      int status = s3e.statusCode();
      if ("NoSuchBucket".equals(code)) {
        return new CryoException(Reason.BUCKET_NOT_FOUND, "the object store has no bucket '"
            + bucket + "': create it, or start the server with another --object-store-bucket",
            e).with("bucket", bucket);
      }
      if ("NoSuchKey".equals(code) || status == 404) {
        return new CryoException(Reason.IMAGE_NOT_FOUND, "no image object at " + loc.uri(), e);
      }
      if (status == 401 || status == 403) {
        return new CryoException(Reason.OBJECT_STORE_DENIED, "the object store refused the "
            + "server's credentials for bucket '" + bucket + "' (" + code + "): fix the "
            + "credentials the server runs with (--object-store-credentials, or the AWS "
            + "default chain) or their rights on the bucket", e).with("bucket", bucket);
      }
      if (status >= 500) {
        return new CryoException(Reason.OBJECT_STORE_UNAVAILABLE, "the object store failed to "
            + what + " " + loc.uri() + " (" + status + " " + code + "); try again", e);
      }
      return new CryoException(Reason.INTERNAL, "could not " + what + " " + loc.uri() + ": "
          + code + " (" + status + ")", e);
    }
    if (e instanceof SdkClientException) {
      return new CryoException(Reason.OBJECT_STORE_UNAVAILABLE, "the object store did not "
          + "answer to " + what + " " + loc.uri() + " (" + e.getMessage() + "); try again", e);
    }
    return new CryoException(Reason.INTERNAL, "could not " + what + " " + loc.uri() + ": "
        + e.getMessage(), e);
  }

  @Override
  public void close() {
    s3.close();
  }

  /**
   * An image being written as one multipart upload: bytes fill a part buffer, full parts upload
   * on two threads of their own while the next fills, and a writer waits once {@link
   * #PARTS_IN_FLIGHT} are in flight. Memory stays at three parts whatever the image's size; no
   * byte touches the local disk. {@link #close()} before {@link #complete()} aborts the upload,
   * so no object appears.
   */
  public final class Upload extends OutputStream {
    private final Location loc;
    private final String uploadId;
    private final ExecutorService uploader;
    private final Semaphore inFlight = new Semaphore(PARTS_IN_FLIGHT);
    /** Guarded by itself. */
    private final List<CompletedPart> parts = new ArrayList<>();
    private final List<Future<?>> pending = new ArrayList<>();
    /** The first part upload that failed; written by the uploader threads. */
    private volatile CryoException failure;
    private byte[] buf;
    private int used;
    private int nextPart = 1;
    private boolean completed;
    private boolean closed;

    private Upload(Location loc, String uploadId) {
      this.loc = loc;
      this.uploadId = uploadId;
      this.buf = new byte[config.partBytes()];
      this.uploader = Executors.newFixedThreadPool(PARTS_IN_FLIGHT, r -> {
        Thread t = new Thread(r, "cryo-s3-upload");
        t.setDaemon(true);
        return t;
      });
    }

    public Location location() {
      return loc;
    }

    @Override
    public void write(int b) throws IOException {
      write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
      checkFailure();
      while (len > 0) {
        int n = Math.min(len, buf.length - used);
        System.arraycopy(b, off, buf, used, n);
        used += n;
        off += n;
        len -= n;
        if (used == buf.length) {
          sendPart();
        }
      }
    }

    /** Does nothing: a part goes when full, the last one in {@link #finishParts()}. */
    @Override
    public void flush() {}

    private void sendPart() throws IOException {
      try {
        inFlight.acquire();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new IOException("interrupted while waiting for a part upload", e);
      }
      checkFailureReleasing();
      byte[] part = buf;
      int size = used;
      int number = nextPart++;
      buf = new byte[config.partBytes()];
      used = 0;
      pending.add(uploader.submit(() -> {
        try {
          String etag = s3.uploadPart(r -> r.bucket(loc.bucket()).key(loc.key())
                  .uploadId(uploadId).partNumber(number).contentLength((long) size),
              RequestBody.fromContentProvider(
                  () -> new java.io.ByteArrayInputStream(part, 0, size), size,
                  "application/octet-stream")).eTag();
          synchronized (parts) {
            parts.add(CompletedPart.builder().partNumber(number).eTag(etag).build());
          }
        } catch (SdkException e) {
          if (failure == null) {
            failure = translate(e, loc, "upload part " + number + " of");
          }
        } catch (RuntimeException e) {
          if (failure == null) {
            failure = new CryoException(Reason.INTERNAL, "could not upload part " + number
                + " of " + loc.uri() + ": " + e.getMessage(), e);
          }
        } finally {
          inFlight.release();
        }
      }));
    }

    private void checkFailureReleasing() {
      CryoException f = failure;
      if (f != null) {
        inFlight.release();
        throw f;
      }
    }

    private void checkFailure() {
      CryoException f = failure;
      if (f != null) {
        throw f;
      }
    }

    /** Uploads the last part and waits for every part: the bytes are all in the store. */
    public void finishParts() throws IOException {
      if (used > 0 || nextPart == 1) {
        sendPart();
      }
      for (Future<?> f : pending) {
        try {
          f.get();
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          throw new IOException("interrupted while waiting for the part uploads", e);
        } catch (java.util.concurrent.ExecutionException e) {
          throw new IOException(e.getCause());
        }
      }
      checkFailure();
    }

    /** Makes the object appear: the image is whole. */
    public void complete() {
      checkFailure();
      List<CompletedPart> sorted;
      synchronized (parts) {
        sorted = new ArrayList<>(parts);
      }
      sorted.sort(Comparator.comparing(CompletedPart::partNumber));
      try {
        s3.completeMultipartUpload(r -> r.bucket(loc.bucket()).key(loc.key())
            .uploadId(uploadId).multipartUpload(m -> m.parts(sorted)));
        completed = true;
      } catch (SdkException e) {
        throw translate(e, loc, "complete the upload of");
      }
    }

    /** Aborts the upload unless it completed; idempotent. */
    @Override
    public void close() {
      if (closed) {
        return;
      }
      closed = true;
      uploader.shutdownNow();
      if (!completed) {
        try {
          s3.abortMultipartUpload(r -> r.bucket(loc.bucket()).key(loc.key())
              .uploadId(uploadId));
        } catch (SdkException e) {
          // The store is down: its parts stay until a lifecycle rule aborts them (see
          // docs/object-storage.md); no object appears either way.
          log.warn("could not abort the upload {} to {}: {}", uploadId, loc.uri(),
              e.getMessage());
        }
      }
      buf = null;
    }
  }
}
