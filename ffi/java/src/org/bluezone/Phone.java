package org.bluezone;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLong;
import com.sun.jna.Pointer;
import com.sun.jna.StringArray;
import com.sun.jna.Structure;
import com.sun.jna.ptr.NativeLongByReference;
import com.sun.jna.ptr.PointerByReference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The phone's daily loop for Java and Kotlin, over the C ABI's {@code bz_*} loop functions:
 * the device's calibration, today's advertising payloads, what the radio heard, the encounter
 * log, the daily check, the upload and Bluezone 2020. Failures throw
 * {@link Bluezone.BluezoneException} with the C status and the library's message.
 */
public final class Phone {
  private Phone() {}

  /** The C loop functions, as JNA maps them. */
  interface Lib extends Library {
    Lib INSTANCE = Native.load("bluezone_ffi", Lib.class);

    int bz_calibration(String manufacturer, String device, String model, String table, DeviceCalibration out);
    int bz_day_payloads(Bluezone.Tek tek, byte txPower, byte confidence, byte flags, byte[] out, NativeLong outLen,
        NativeLongByReference count);
    int bz_heard(byte[] payload, NativeLong len, Reception reception, Sighting out);
    int bz_log_append(String dir, Sighting[] sightings, NativeLong count);
    int bz_log_read(String dir, Sighting[] out, NativeLong capacity, NativeLongByReference count);
    int bz_log_read_segment(byte[] segment, NativeLong len, Sighting[] out, NativeLong capacity,
        NativeLongByReference count);
    int bz_check(StringArray files, NativeLong fileCount, GaenSighting[] sightings, NativeLong count,
        CheckSettings settings, PointerByReference out);
    int bz_check_in_memory(Pointer[] files, NativeLong[] lengths, NativeLong fileCount, GaenSighting[] sightings,
        NativeLong count, CheckSettings settings, PointerByReference out);
    int bz_check_result_verdict(Pointer result, Bluezone.Verdict out);
    int bz_check_result_model(Pointer result, ModelVerdict out);
    int bz_check_result_json(Pointer result, byte[] json, NativeLong len, NativeLongByReference written);
    void bz_check_result_free(Pointer result);
    int bz_publish_request(Bluezone.DiagnosisKey[] keys, NativeLong count, byte[] secret, NativeLong secretLen,
        byte[] json, NativeLong len, NativeLongByReference written);
    int bz_tek_hmac(Bluezone.DiagnosisKey[] keys, NativeLong count, byte[] secret, NativeLong secretLen,
        byte withTransmissionRisk, byte[] out);
    int bz_blid_check(String f0, String history, byte unitSeconds, long now, byte hasCloseRssi, byte closeRssi,
        BlidVerdict out, byte[] json, NativeLong len, NativeLongByReference written);
  }

  /** {@code bz_device_calibration}: a phone's row of Google's calibration table. */
  @Structure.FieldOrder({"tx_power_dbm", "rssi_correction_db", "confidence", "fallback"})
  public static class DeviceCalibration extends Structure {
    /** The TX power to advertise, dBm. */
    public byte tx_power_dbm;
    /** The correction to add to each RSSI read, dB. */
    public byte rssi_correction_db;
    /** The confidence to advertise, 0 to 3. */
    public byte confidence;
    /** 0 the phone's own row, 1 sister devices, 2 the manufacturer's average, 3 every device's. */
    public byte fallback;
  }

  /** {@code bz_reception}: one reception by the radio. */
  @Structure.FieldOrder({"raw_rssi_dbm", "rssi_correction_db", "unix_seconds", "previous_scan_unix_seconds",
      "own_id"})
  public static class Reception extends Structure {
    /** The RSSI the radio reported, dBm. */
    public byte raw_rssi_dbm;
    /** The receiver's RSSI correction, dB. */
    public byte rssi_correction_db;
    /** When, Unix seconds. */
    public long unix_seconds;
    /** When the scan before ran, Unix seconds (0: unknown). */
    public long previous_scan_unix_seconds;
    /** The Bluezone 2020 identifier this phone broadcast then (zero when none). */
    public byte[] own_id = new byte[12];
  }

  /** {@code bz_gaen_sighting}: one Exposure Notification advertisement received. */
  @Structure.FieldOrder({"unix_seconds", "rpi", "aem", "rssi", "previous_scan_unix_seconds"})
  public static class GaenSighting extends Structure {
    /** When, Unix seconds. */
    public long unix_seconds;
    /** The identifier. */
    public byte[] rpi = new byte[16];
    /** Its encrypted metadata. */
    public byte[] aem = new byte[4];
    /** Calibrated RSSI, dBm. */
    public byte rssi;
    /** When the previous scan ran (0: unknown). */
    public long previous_scan_unix_seconds;
  }

  /** {@code bz_bluezone_sighting}: one row of a Bluezone 2020 contact history. */
  @Structure.FieldOrder({"unix_ms", "contact_id", "own_id", "rssi"})
  public static class BluezoneSighting extends Structure {
    /** When, Unix milliseconds. */
    public long unix_ms;
    /** The identifier heard. */
    public byte[] contact_id = new byte[12];
    /** The identifier this phone broadcast. */
    public byte[] own_id = new byte[12];
    /** RSSI, dBm. */
    public byte rssi;
  }

  /** {@code bz_sighting}: a sighting of either kind; {@link #kind} says which member holds it. */
  @Structure.FieldOrder({"kind", "gaen", "bluezone"})
  public static class Sighting extends Structure {
    /** 1: {@link #gaen}; 2: {@link #bluezone}. */
    public byte kind;
    /** A GAEN sighting. */
    public GaenSighting gaen = new GaenSighting();
    /** A Bluezone sighting. */
    public BluezoneSighting bluezone = new BluezoneSighting();

    void copyFrom(Sighting from) {
      kind = from.kind;
      gaen.unix_seconds = from.gaen.unix_seconds;
      gaen.rpi = from.gaen.rpi.clone();
      gaen.aem = from.gaen.aem.clone();
      gaen.rssi = from.gaen.rssi;
      gaen.previous_scan_unix_seconds = from.gaen.previous_scan_unix_seconds;
      bluezone.unix_ms = from.bluezone.unix_ms;
      bluezone.contact_id = from.bluezone.contact_id.clone();
      bluezone.own_id = from.bluezone.own_id.clone();
      bluezone.rssi = from.bluezone.rssi;
    }

    boolean sameAs(Sighting other) {
      return kind == other.kind && gaen.unix_seconds == other.gaen.unix_seconds
          && Arrays.equals(gaen.rpi, other.gaen.rpi) && Arrays.equals(gaen.aem, other.gaen.aem)
          && gaen.rssi == other.gaen.rssi && bluezone.unix_ms == other.bluezone.unix_ms
          && Arrays.equals(bluezone.contact_id, other.bluezone.contact_id) && bluezone.rssi == other.bluezone.rssi;
    }
  }

  /** {@code bz_check_settings}: what the daily check needs besides the files and the sightings. */
  @Structure.FieldOrder({"public_keys_pem", "public_key_count", "allow_unauthentic", "rules", "risk_config_json",
      "risk_model", "risk_model_config_json", "state_dir", "now_unix_seconds"})
  public static class CheckSettings extends Structure {
    /** The health authority's public keys (set with {@link #publicKeys}). */
    public Pointer public_keys_pem;
    /** How many. */
    public NativeLong public_key_count = new NativeLong(0);
    /** 1: match files that are not authentic too, each reported. */
    public byte allow_unauthentic;
    /** The matching rules (null: Google's engine's). */
    public Pointer rules;
    /** The risk configuration as JSON (null: the default F1 rule, about 2 m for 15 minutes). */
    public String risk_config_json;
    /** The deployment's model: null, "cwa" or "nhs". */
    public String risk_model;
    /** Its parameters as JSON (null: the deployment's own). */
    public String risk_model_config_json;
    /** A match-state folder that remembers what earlier checks read (null: none). */
    public String state_dir;
    /** "Now", Unix seconds (0: the newest sighting). */
    public long now_unix_seconds;

    private StringArray keys;

    /** Verifies every file against these PEM public keys. */
    public CheckSettings publicKeys(List<String> pems) {
      keys = pems.isEmpty() ? null : new StringArray(pems.toArray(new String[0]));
      public_keys_pem = keys;
      public_key_count = new NativeLong(pems.size());
      return this;
    }
  }

  /** {@code bz_model_verdict}: a deployment's verdict beside the F1 rule's. */
  @Structure.FieldOrder({"model", "cwa_risk_level", "cwa_days_with_high_risk", "nhs_max_score"})
  public static class ModelVerdict extends Structure {
    /** 0 none, 1 the Corona-Warn-App's, 2 the NHS app's. */
    public byte model;
    /** The CWA's total risk level: 1 low, 2 high. */
    public byte cwa_risk_level;
    /** The CWA's days with high risk. */
    public long cwa_days_with_high_risk;
    /** The NHS app's highest window score. */
    public double nhs_max_score;
  }

  /** {@code bz_blid_verdict}: the Bluezone 2020 verdict. */
  @Structure.FieldOrder({"contact", "f1", "sightings", "longest_close_seconds"})
  public static class BlidVerdict extends Structure {
    /** 1 when an identifier of the F0 list was heard. */
    public byte contact;
    /** 1 when the app's F1 rule holds. */
    public byte f1;
    /** Sightings of F0 identifiers. */
    public long sightings;
    /** The most seconds of close contact on one (entry, day). */
    public long longest_close_seconds;
  }

  /** The daily check's verdicts and the document {@code bluezone match --json} prints. */
  public static final class DailyCheck {
    /** The F1 verdict. */
    public final Bluezone.Verdict verdict;
    /** The deployment's verdict. */
    public final ModelVerdict model;
    /** The document, JSON. */
    public final String json;

    DailyCheck(Bluezone.Verdict verdict, ModelVerdict model, String json) {
      this.verdict = verdict;
      this.model = model;
      this.json = json;
    }
  }

  /** The Bluezone 2020 verdict and its matches as JSON. */
  public static final class BlidCheck {
    /** The verdict. */
    public final BlidVerdict verdict;
    /** The matches and the verdict, JSON. */
    public final String json;

    BlidCheck(BlidVerdict verdict, String json) {
      this.verdict = verdict;
      this.json = json;
    }
  }

  private static NativeLong size(long value) {
    return Bluezone.size(value);
  }

  private static void check(int status) {
    Bluezone.check(status);
  }

  /** A NUL-terminated text the library wrote. */
  private static String text(byte[] buffer, NativeLongByReference written) {
    return new String(buffer, 0, (int) written.getValue().longValue() - 1, StandardCharsets.UTF_8);
  }

  /** A phone's calibration in Google's December 2020 table ({@code device} may be null). */
  public static DeviceCalibration calibration(String manufacturer, String device, String model) {
    DeviceCalibration out = new DeviceCalibration();
    check(Lib.INSTANCE.bz_calibration(manufacturer, device, model, null, out));
    return out;
  }

  /** The key's advertising payloads (31 bytes each), one per interval, with the device's calibration. */
  public static List<byte[]> dayPayloads(Bluezone.Tek tek, DeviceCalibration device, int flags) {
    byte[] out = new byte[144 * 31];
    NativeLongByReference count = new NativeLongByReference();
    check(Lib.INSTANCE.bz_day_payloads(tek, device.tx_power_dbm, device.confidence, (byte) flags, out,
        size(out.length), count));
    List<byte[]> payloads = new ArrayList<>();
    for (int i = 0; i < count.getValue().longValue(); i++) {
      payloads.add(Arrays.copyOfRange(out, i * 31, (i + 1) * 31));
    }
    return payloads;
  }

  /** What the radio heard as a sighting, or null for neither protocol (or a Bluezone iPhone). */
  public static Sighting heard(byte[] payload, Reception reception) {
    Sighting out = new Sighting();
    int status = Lib.INSTANCE.bz_heard(payload, size(payload.length), reception, out);
    if (status == 1) {
      return null;
    }
    check(status);
    return out;
  }

  private static Sighting[] contiguous(List<Sighting> sightings) {
    Sighting[] array = (Sighting[]) new Sighting().toArray(Math.max(1, sightings.size()));
    for (int i = 0; i < sightings.size(); i++) {
      array[i].copyFrom(sightings.get(i));
      array[i].write();
    }
    return array;
  }

  /** Appends sightings to the encounter log in {@code dir} and makes them durable. */
  public static void logAppend(Path dir, List<Sighting> sightings) {
    check(Lib.INSTANCE.bz_log_append(dir.toString(), contiguous(sightings), size(sightings.size())));
  }

  private interface Reader {
    int read(Sighting[] out, NativeLong capacity, NativeLongByReference count);
  }

  /** Reads with a buffer as large as the library says it needs. */
  private static List<Sighting> readAll(Reader reader) {
    NativeLongByReference count = new NativeLongByReference();
    Sighting[] buffer = (Sighting[]) new Sighting().toArray(1);
    int status = reader.read(buffer, size(0), count);
    if (status == 3) {
      buffer = (Sighting[]) new Sighting().toArray((int) Math.max(1, count.getValue().longValue()));
      status = reader.read(buffer, size(buffer.length), count);
    }
    check(status);
    List<Sighting> out = new ArrayList<>();
    for (int i = 0; i < count.getValue().longValue(); i++) {
      buffer[i].read();
      out.add(buffer[i]);
    }
    return out;
  }

  /** Every sighting of the encounter log in {@code dir}, oldest first; a damaged log throws. */
  public static List<Sighting> logRead(Path dir) {
    return readAll((out, capacity, count) -> Lib.INSTANCE.bz_log_read(dir.toString(), out, capacity, count));
  }

  /** The sightings of one log segment held in memory. */
  public static List<Sighting> readSegment(byte[] segment) {
    return readAll((out, capacity, count) ->
        Lib.INSTANCE.bz_log_read_segment(segment, size(segment.length), out, capacity, count));
  }

  private static GaenSighting[] contiguousGaen(List<GaenSighting> sightings) {
    GaenSighting[] array = (GaenSighting[]) new GaenSighting().toArray(Math.max(1, sightings.size()));
    for (int i = 0; i < sightings.size(); i++) {
      GaenSighting from = sightings.get(i);
      array[i].unix_seconds = from.unix_seconds;
      array[i].rpi = from.rpi.clone();
      array[i].aem = from.aem.clone();
      array[i].rssi = from.rssi;
      array[i].previous_scan_unix_seconds = from.previous_scan_unix_seconds;
      array[i].write();
    }
    return array;
  }

  /** The daily check of downloaded export files against the phone's GAEN sightings. */
  public static DailyCheck check(List<Path> files, List<GaenSighting> sightings, CheckSettings settings) {
    String[] paths = files.stream().map(Path::toString).toArray(String[]::new);
    PointerByReference out = new PointerByReference();
    check(Lib.INSTANCE.bz_check(new StringArray(paths), size(paths.length), contiguousGaen(sightings),
        size(sightings.size()), settings, out));
    return result(out.getValue());
  }

  /**
   * The daily check of export files held in memory (their bytes as downloaded), with no match
   * state: a state reads its files from disk.
   */
  public static DailyCheck checkInMemory(List<byte[]> files, List<GaenSighting> sightings, CheckSettings settings) {
    Pointer[] pointers = new Pointer[Math.max(1, files.size())];
    NativeLong[] lengths = new NativeLong[Math.max(1, files.size())];
    List<com.sun.jna.Memory> held = new ArrayList<>();
    lengths[0] = new NativeLong(0);
    for (int i = 0; i < files.size(); i++) {
      byte[] data = files.get(i);
      com.sun.jna.Memory memory = new com.sun.jna.Memory(Math.max(1, data.length));
      memory.write(0, data, 0, data.length);
      held.add(memory);
      pointers[i] = memory;
      lengths[i] = new NativeLong(data.length);
    }
    PointerByReference out = new PointerByReference();
    check(Lib.INSTANCE.bz_check_in_memory(pointers, lengths, size(files.size()), contiguousGaen(sightings),
        size(sightings.size()), settings, out));
    held.clear();
    return result(out.getValue());
  }

  /** Reads a check's result and frees it. */
  private static DailyCheck result(Pointer result) {
    try {
      Bluezone.Verdict verdict = new Bluezone.Verdict();
      ModelVerdict model = new ModelVerdict();
      check(Lib.INSTANCE.bz_check_result_verdict(result, verdict));
      check(Lib.INSTANCE.bz_check_result_model(result, model));
      NativeLongByReference written = new NativeLongByReference();
      int status = Lib.INSTANCE.bz_check_result_json(result, new byte[1], size(1), written);
      if (status != 3 && status != 0) {
        check(status);
      }
      byte[] json = new byte[(int) written.getValue().longValue()];
      check(Lib.INSTANCE.bz_check_result_json(result, json, size(json.length), written));
      return new DailyCheck(verdict, model, text(json, written));
    } finally {
      Lib.INSTANCE.bz_check_result_free(result);
    }
  }

  private static Bluezone.DiagnosisKey[] keys(List<Bluezone.DiagnosisKey> keys) {
    Bluezone.DiagnosisKey[] array = (Bluezone.DiagnosisKey[]) new Bluezone.DiagnosisKey().toArray(
        Math.max(1, keys.size()));
    for (int i = 0; i < keys.size(); i++) {
      Bluezone.DiagnosisKey from = keys.get(i);
      array[i].key_data = from.key_data.clone();
      array[i].rolling_start_interval_number = from.rolling_start_interval_number;
      array[i].rolling_period = from.rolling_period;
      array[i].transmission_risk_level = from.transmission_risk_level;
      array[i].report_type = from.report_type;
      array[i].has_days_since_onset_of_symptoms = from.has_days_since_onset_of_symptoms;
      array[i].days_since_onset_of_symptoms = from.days_since_onset_of_symptoms;
      array[i].write();
    }
    return array;
  }

  /** The publish request for the phone's released keys and the HMAC secret (16 bytes or more), JSON. */
  public static String publishRequest(List<Bluezone.DiagnosisKey> released, byte[] secret) {
    NativeLongByReference written = new NativeLongByReference();
    Bluezone.DiagnosisKey[] array = keys(released);
    byte[] json = new byte[4096];
    int status = Lib.INSTANCE.bz_publish_request(array, size(released.size()), secret, size(secret.length), json,
        size(json.length), written);
    if (status == 3) {
      json = new byte[(int) written.getValue().longValue()];
      status = Lib.INSTANCE.bz_publish_request(array, size(released.size()), secret, size(secret.length), json,
          size(json.length), written);
    }
    check(status);
    return text(json, written);
  }

  /** The TEK HMAC of released keys under the verification server's secret, base64. */
  public static String tekHmac(List<Bluezone.DiagnosisKey> released, byte[] secret, boolean withTransmissionRisk) {
    byte[] out = new byte[45];
    check(Lib.INSTANCE.bz_tek_hmac(keys(released), size(released.size()), secret, size(secret.length),
        (byte) (withTransmissionRisk ? 1 : 0), out));
    return new String(out, 0, 44, StandardCharsets.US_ASCII);
  }

  /**
   * Bluezone 2020: an F0 list (JSON) against a contact history ({@code data_trace.txt} text,
   * milliseconds unless {@code unitSeconds}), as of {@code now}, every RSSI threshold at
   * {@code closeRssi} when not null.
   */
  public static BlidCheck blidCheck(String f0, String history, boolean unitSeconds, long now, Byte closeRssi) {
    BlidVerdict verdict = new BlidVerdict();
    NativeLongByReference written = new NativeLongByReference();
    byte unit = (byte) (unitSeconds ? 1 : 0);
    byte hasClose = (byte) (closeRssi == null ? 0 : 1);
    byte close = closeRssi == null ? 0 : closeRssi;
    byte[] json = new byte[1 << 16];
    int status = Lib.INSTANCE.bz_blid_check(f0, history, unit, now, hasClose, close, verdict, json,
        size(json.length), written);
    if (status == 3) {
      json = new byte[(int) written.getValue().longValue()];
      status = Lib.INSTANCE.bz_blid_check(f0, history, unit, now, hasClose, close, verdict, json,
          size(json.length), written);
    }
    check(status);
    return new BlidCheck(verdict, text(json, written));
  }
}
