package org.bluezone;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.Structure;
import com.sun.jna.ptr.NativeLongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The bluezone library for Java and Kotlin (Android included), over its C ABI through JNA.
 *
 * <p>Every method either returns its result or throws {@link BluezoneException}, which carries
 * the C status code and the library's message. Byte strings are {@code byte[]} of their exact
 * protocol length: 16 for keys and identifiers, 4 for metadata, 12 for Bluezone identifiers.
 * The native library {@code libbluezone_ffi} is found on {@code jna.library.path}. Sizes are
 * passed as C {@code long}, which has the width of {@code size_t} on Linux and Android (not on
 * 64-bit Windows).
 */
public final class Bluezone {
  private Bluezone() {}

  /** A call of the library failed; {@link #status} is its {@code bz_status} code. */
  public static final class BluezoneException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The {@code bz_status} code: 2 NULL pointer, 3 buffer too small, 4 invalid argument,
     * 5 malformed input, 6 not authentic, 7 I/O, 8 invalid state, 9 internal error. */
    public final int status;

    BluezoneException(int status, String message) {
      super(message);
      this.status = status;
    }
  }

  /** The C functions, as JNA maps them. Not for direct use: every call needs its status checked. */
  interface Lib extends Library {
    Lib INSTANCE = Native.load("bluezone_ffi", Lib.class);

    String bz_version();
    String bz_error_message();
    int bz_interval_number(long unixSeconds, int[] out);
    int bz_tek_from_entropy(byte[] entropy, NativeLong len, int start, int period, Tek out);
    int bz_rpis(Tek tek, byte[] out, NativeLong outLen, NativeLongByReference count);
    int bz_aems(Tek tek, byte[] metadata, byte[] out, NativeLong outLen, NativeLongByReference count);
    int bz_aem_decrypt(byte[] keyData, byte[] rpi, byte[] aem, byte[] out);
    int bz_gaen_advertisement_encode(byte[] rpi, byte[] aem, byte flags, byte[] out);
    int bz_gaen_advertisement_parse(byte[] payload, NativeLong len, GaenAdvertisement out);
    int bz_bluezone_identifier(byte[] baseKey, long baseTimeS, long unixMs, byte[] out);
    int bz_export_open(String path, String pem, byte allowUnauthentic, PointerByReference out);
    int bz_export_inspect(Pointer export, ExportInfo out);
    int bz_export_next_key(Pointer export, DiagnosisKey out);
    void bz_export_free(Pointer export);
    int bz_matcher_new(PointerByReference out);
    int bz_matcher_add_encounters(Pointer matcher, String path);
    int bz_matcher_add_keys(Pointer matcher, DiagnosisKey[] keys, NativeLong count);
    int bz_matcher_add_export(Pointer matcher, Pointer export);
    int bz_matcher_verdict(Pointer matcher, long now, Verdict out);
    int bz_matcher_match(Pointer matcher, NativeLong index, Match out);
    void bz_matcher_free(Pointer matcher);
  }

  /** A {@code size_t} argument: C's {@code long} has its width on Linux and Android. */
  static NativeLong size(long value) {
    return new NativeLong(value);
  }

  static void check(int status) {
    if (status != 0) {
      throw new BluezoneException(status, Lib.INSTANCE.bz_error_message());
    }
  }

  static byte[] exactly(byte[] bytes, int len, String name) {
    if (bytes == null || bytes.length != len) {
      throw new IllegalArgumentException(name + " must be " + len + " bytes");
    }
    return bytes;
  }

  /** {@code bz_tek}: a temporary exposure key and its window. */
  @Structure.FieldOrder({"key_data", "rolling_start_interval_number", "rolling_period"})
  public static class Tek extends Structure {
    /** The 16 key bytes. */
    public byte[] key_data = new byte[16];
    /** The first interval of its window. */
    public int rolling_start_interval_number;
    /** Intervals in its window, 1 to 144. */
    public int rolling_period;
  }

  /** {@code bz_gaen_advertisement}: an Exposure Notification advertisement as read. */
  @Structure.FieldOrder({"rpi", "aem", "has_flags", "flags", "lists_service_uuid"})
  public static class GaenAdvertisement extends Structure {
    /** The rolling proximity identifier. */
    public byte[] rpi = new byte[16];
    /** The associated encrypted metadata. */
    public byte[] aem = new byte[4];
    /** 1 when the payload had a Flags structure. */
    public byte has_flags;
    /** Its first byte. */
    public byte flags;
    /** 1 when a service UUID list named 0xFD6F. */
    public byte lists_service_uuid;
  }

  /** {@code bz_diagnosis_key}: a case's key with its export metadata. */
  @Structure.FieldOrder({"key_data", "rolling_start_interval_number", "rolling_period",
      "transmission_risk_level", "report_type", "has_days_since_onset_of_symptoms",
      "days_since_onset_of_symptoms"})
  public static class DiagnosisKey extends Structure {
    /** The 16 key bytes. */
    public byte[] key_data = new byte[16];
    /** The first interval of its window. */
    public int rolling_start_interval_number;
    /** Intervals in its window. */
    public int rolling_period;
    /** Transmission risk level, 0 to 8. */
    public byte transmission_risk_level;
    /** 0 unknown, 1 confirmed test, 2 clinical diagnosis, 3 self report, 4 recursive, 5 revoked. */
    public byte report_type;
    /** 1 when {@link #days_since_onset_of_symptoms} is set. */
    public byte has_days_since_onset_of_symptoms;
    /** Days from symptom onset to the key's day. */
    public int days_since_onset_of_symptoms;
  }

  /** {@code bz_export_info}: what an export file holds and the verdict on it. */
  @Structure.FieldOrder({"keys", "revised_keys", "invalid_keys", "signatures", "verification",
      "keys_released", "zip", "start_timestamp", "end_timestamp", "batch_num", "batch_size"})
  public static class ExportInfo extends Structure {
    /** Keys handed out, revised ones included. */
    public long keys;
    /** Of them, revised keys. */
    public long revised_keys;
    /** Keys the protocol does not allow: counted, not handed out. */
    public long invalid_keys;
    /** Signatures in export.sig. */
    public int signatures;
    /** 0 not checked, 1 authentic, 2 not authentic. */
    public int verification;
    /** 1 when the keys are handed out. */
    public byte keys_released;
    /** 1 for an export.zip, 0 for a bare export.bin. */
    public byte zip;
    /** start_timestamp, Unix seconds (0 when absent). */
    public long start_timestamp;
    /** end_timestamp, Unix seconds (0 when absent). */
    public long end_timestamp;
    /** batch_num (0 when absent). */
    public int batch_num;
    /** batch_size (0 when absent). */
    public int batch_size;
  }

  /** {@code bz_verdict}: the F1 verdict and what it rests on. */
  @Structure.FieldOrder({"f1", "now_unix_seconds", "keys_total", "keys_matched",
      "exposure_windows", "contact_days", "longest_close_seconds"})
  public static class Verdict extends Structure {
    /** 1 when the user is a close contact (F1). */
    public byte f1;
    /** "Now" as used, Unix seconds. */
    public long now_unix_seconds;
    /** Keys matched against the sightings. */
    public long keys_total;
    /** Keys with at least one sighting. */
    public long keys_matched;
    /** Exposure windows of the matched keys. */
    public long exposure_windows;
    /** (day, case) pairs with an exposure window in the look-back. */
    public long contact_days;
    /** The most seconds within about 2 m on one (day, case). */
    public long longest_close_seconds;
  }

  /** {@code bz_match}: one matched key with what was heard of it. */
  @Structure.FieldOrder({"key", "sightings", "first_unix_seconds", "last_unix_seconds",
      "min_attenuation_db"})
  public static class Match extends Structure {
    /** The key. */
    public DiagnosisKey key = new DiagnosisKey();
    /** Sightings of its identifiers accepted. */
    public long sightings;
    /** The first, Unix seconds. */
    public long first_unix_seconds;
    /** The last, Unix seconds. */
    public long last_unix_seconds;
    /** The least attenuation heard, dB. */
    public byte min_attenuation_db;
  }

  /** The library's version. */
  public static String version() {
    return Lib.INSTANCE.bz_version();
  }

  /** The 10-minute interval number of a Unix time. */
  public static int intervalNumber(long unixSeconds) {
    int[] out = new int[1];
    check(Lib.INSTANCE.bz_interval_number(unixSeconds, out));
    return out[0];
  }

  /** A temporary exposure key from 16 bytes of a CSPRNG, for {@code period} intervals from {@code start}. */
  public static Tek temporaryExposureKey(byte[] entropy, int start, int period) {
    Tek tek = new Tek();
    check(Lib.INSTANCE.bz_tek_from_entropy(entropy, size(entropy == null ? 0 : entropy.length), start, period, tek));
    return tek;
  }

  private static List<byte[]> split(byte[] all, long count, int len) {
    List<byte[]> out = new ArrayList<>();
    for (int i = 0; i < count; i++) {
      out.add(Arrays.copyOfRange(all, i * len, (i + 1) * len));
    }
    return out;
  }

  /** The key's rolling proximity identifiers, one per interval of its window, in order. */
  public static List<byte[]> rollingProximityIdentifiers(Tek tek) {
    byte[] out = new byte[144 * 16];
    NativeLongByReference count = new NativeLongByReference();
    check(Lib.INSTANCE.bz_rpis(tek, out, size(out.length), count));
    return split(out, count.getValue().longValue(), 16);
  }

  /** The encrypted metadata of each identifier of {@link #rollingProximityIdentifiers}, for the same 4 metadata bytes. */
  public static List<byte[]> associatedEncryptedMetadata(Tek tek, byte[] metadata) {
    byte[] out = new byte[144 * 4];
    NativeLongByReference count = new NativeLongByReference();
    check(Lib.INSTANCE.bz_aems(tek, exactly(metadata, 4, "metadata"), out, size(out.length), count));
    return split(out, count.getValue().longValue(), 4);
  }

  /** Decrypts the metadata an advertisement carried, with the key that sent it. */
  public static byte[] decryptMetadata(byte[] keyData, byte[] rpi, byte[] aem) {
    byte[] out = new byte[4];
    check(Lib.INSTANCE.bz_aem_decrypt(exactly(keyData, 16, "key data"), exactly(rpi, 16, "rpi"),
        exactly(aem, 4, "aem"), out));
    return out;
  }

  /** The 31-byte Exposure Notification advertising payload (flags 0x1A as iPhones send). */
  public static byte[] gaenAdvertisement(byte[] rpi, byte[] aem, int flags) {
    byte[] out = new byte[31];
    check(Lib.INSTANCE.bz_gaen_advertisement_encode(exactly(rpi, 16, "rpi"), exactly(aem, 4, "aem"),
        (byte) flags, out));
    return out;
  }

  /** Reads an Exposure Notification advertisement from a legacy advertising payload. */
  public static GaenAdvertisement parseGaenAdvertisement(byte[] payload) {
    GaenAdvertisement out = new GaenAdvertisement();
    check(Lib.INSTANCE.bz_gaen_advertisement_parse(payload, size(payload == null ? 0 : payload.length), out));
    return out;
  }

  /** The identifier a Bluezone 2020 phone broadcast at {@code unixMs} (96 slots a day). */
  public static byte[] bluezoneIdentifier(byte[] baseKey, long baseTimeS, long unixMs) {
    byte[] out = new byte[12];
    check(Lib.INSTANCE.bz_bluezone_identifier(exactly(baseKey, 32, "base key"), baseTimeS, unixMs, out));
    return out;
  }

  /** An opened export file: its facts, the signature verdict and its keys. Close it when done. */
  public static final class Export implements AutoCloseable {
    private Pointer handle;

    /**
     * Opens an export.zip or bare export.bin and, with {@code publicKeyPem}, verifies it. Keys
     * are handed out only from an authentic file, or from any file with {@code allowUnauthentic}.
     */
    public Export(Path path, String publicKeyPem, boolean allowUnauthentic) {
      PointerByReference out = new PointerByReference();
      check(Lib.INSTANCE.bz_export_open(path.toString(), publicKeyPem, (byte) (allowUnauthentic ? 1 : 0), out));
      handle = out.getValue();
    }

    Pointer handle() {
      if (handle == null) {
        throw new IllegalStateException("the export file is closed");
      }
      return handle;
    }

    /** What the file holds and the verdict. */
    public ExportInfo info() {
      ExportInfo info = new ExportInfo();
      check(Lib.INSTANCE.bz_export_inspect(handle(), info));
      return info;
    }

    /** The next key, or null after the last; throws (status 6) when the keys are withheld. */
    public DiagnosisKey nextKey() {
      DiagnosisKey key = new DiagnosisKey();
      int status = Lib.INSTANCE.bz_export_next_key(handle(), key);
      if (status == 1) {
        return null;
      }
      check(status);
      return key;
    }

    @Override
    public void close() {
      if (handle != null) {
        Lib.INSTANCE.bz_export_free(handle);
        handle = null;
      }
    }
  }

  /** A phone's sightings and the keys matched against them. Close it when done. */
  public static final class Matcher implements AutoCloseable {
    private Pointer handle;

    /** A matcher with the default rules and the F1 rule of "about 2 m for 15 minutes". */
    public Matcher() {
      PointerByReference out = new PointerByReference();
      check(Lib.INSTANCE.bz_matcher_new(out));
      handle = out.getValue();
    }

    private Pointer handle() {
      if (handle == null) {
        throw new IllegalStateException("the matcher is closed");
      }
      return handle;
    }

    /** Adds the sightings of an encounter-log folder or a CSV file; all before the first keys. */
    public Matcher addEncounters(Path path) {
      check(Lib.INSTANCE.bz_matcher_add_encounters(handle(), path.toString()));
      return this;
    }

    /** Matches a batch of keys after every key added before. */
    public Matcher addKeys(List<DiagnosisKey> keys) {
      if (keys.isEmpty()) {
        return this;
      }
      DiagnosisKey[] contiguous = (DiagnosisKey[]) new DiagnosisKey().toArray(keys.size());
      for (int i = 0; i < keys.size(); i++) {
        DiagnosisKey from = keys.get(i);
        DiagnosisKey to = contiguous[i];
        to.key_data = from.key_data.clone();
        to.rolling_start_interval_number = from.rolling_start_interval_number;
        to.rolling_period = from.rolling_period;
        to.transmission_risk_level = from.transmission_risk_level;
        to.report_type = from.report_type;
        to.has_days_since_onset_of_symptoms = from.has_days_since_onset_of_symptoms;
        to.days_since_onset_of_symptoms = from.days_since_onset_of_symptoms;
        to.write();
      }
      check(Lib.INSTANCE.bz_matcher_add_keys(handle(), contiguous, size(contiguous.length)));
      return this;
    }

    /** Matches every key of an opened export file. */
    public Matcher addExport(Export export) {
      check(Lib.INSTANCE.bz_matcher_add_export(handle(), export.handle()));
      return this;
    }

    /** The verdict as of {@code nowUnixSeconds} (0: the newest sighting). */
    public Verdict verdict(long nowUnixSeconds) {
      Verdict out = new Verdict();
      check(Lib.INSTANCE.bz_matcher_verdict(handle(), nowUnixSeconds, out));
      return out;
    }

    /** The matched keys, ordered by key bytes (they do not depend on "now"). */
    public List<Match> matches() {
      Verdict verdict = verdict(0);
      List<Match> out = new ArrayList<>();
      for (long i = 0; i < verdict.keys_matched; i++) {
        Match match = new Match();
        check(Lib.INSTANCE.bz_matcher_match(handle(), new NativeLong(i), match));
        out.add(match);
      }
      return out;
    }

    @Override
    public void close() {
      if (handle != null) {
        Lib.INSTANCE.bz_matcher_free(handle);
        handle = null;
      }
    }
  }
}
