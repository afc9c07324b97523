import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.bluezone.Bluezone;
import org.bluezone.Phone;

/**
 * The whole on-device loop in Java (Kotlin calls the same classes), from memory, on the shipped
 * companion sample: the phone's calibration, today's key and payloads; what the radio heard
 * as sightings; the encounter log written and read back; the daily check with the F1 rule,
 * the Corona-Warn-App's model and a match state; the key released for upload; and Bluezone
 * 2020. Run from the repository's root with the folder to work in as its argument
 * (ffi/java/run.sh runs it and compares what it prints with the bluezone tool).
 */
public final class PhoneLoop {
  private static final String SAMPLES = "test-vectors/export-samples/";

  public static void main(String[] args) throws IOException {
    Path folder = Path.of(args.length > 0 ? args[0] : "target/phone-loop-java");
    HexFormat hex = HexFormat.of();

    // 1. This phone and today's key: TX power from Google's December 2020 table. A phone takes
    // the 16 bytes from SecureRandom; fixed here so that the output repeats.
    Phone.DeviceCalibration me = Phone.calibration("samsung", null, "SM-G973F");
    byte[] entropy = new byte[16];
    Arrays.fill(entropy, (byte) 0x42);
    int today = Bluezone.intervalNumber(1_590_000_000L);
    Bluezone.Tek tek = Bluezone.temporaryExposureKey(entropy, today - today % 144, 144);
    List<byte[]> payloads = Phone.dayPayloads(tek, me, 0x1a);
    if (payloads.size() != 144) throw new IllegalStateException("payloads");

    // 2. What the radio heard. The sample's RSSIs are calibrated already: correction 0 here; a
    // phone passes its own (me.rssi_correction_db).
    List<Phone.Sighting> heard = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(SAMPLES + "companion-demo-encounters.csv"))) {
      String[] f = line.split(",");
      if (f[0].equals("unix_seconds")) continue;
      byte[] payload = Bluezone.gaenAdvertisement(hex.parseHex(f[1]), hex.parseHex(f[2]), 0x1a);
      Phone.Reception reception = new Phone.Reception();
      reception.raw_rssi_dbm = Byte.parseByte(f[3]);
      reception.unix_seconds = Long.parseLong(f[0]);
      heard.add(Phone.heard(payload, reception));
    }

    // 3. The encounter log, written and read back.
    Phone.logAppend(folder.resolve("log"), heard);
    List<Phone.Sighting> logged = Phone.logRead(folder.resolve("log"));
    if (logged.size() != heard.size()) throw new IllegalStateException("the log gave back " + logged.size());

    // 4. The daily check, with the deployment's model beside the F1 rule and a match state. The
    // sample is unsigned; a phone gives its health authority's key (publicKeys) instead.
    Phone.CheckSettings settings = new Phone.CheckSettings();
    settings.allow_unauthentic = 1;
    settings.risk_model = "cwa";
    settings.state_dir = folder.resolve("state").toString();
    List<Phone.GaenSighting> gaen = new ArrayList<>();
    for (Phone.Sighting s : logged) gaen.add(s.gaen);
    Phone.DailyCheck check = Phone.check(List.of(Path.of(SAMPLES + "companion-demo_dks.zip")), gaen, settings);
    System.out.println(check.verdict.keys_matched + " keys matched, F1: " + (check.verdict.f1 != 0 ? "yes" : "no"));
    System.out.println("Corona-Warn-App rules: " + (check.model.cwa_risk_level == 2 ? "high" : "low") + " risk");

    // 5. This phone's key released for upload, with the HMAC the verification server certifies.
    Bluezone.DiagnosisKey released = new Bluezone.DiagnosisKey();
    released.key_data = tek.key_data.clone();
    released.rolling_start_interval_number = tek.rolling_start_interval_number;
    released.rolling_period = tek.rolling_period;
    released.report_type = 1;
    byte[] secret = new byte[32];
    Arrays.fill(secret, (byte) 0x17);
    String request = Phone.publishRequest(List.of(released), secret);
    String hmac = Phone.tekHmac(List.of(released), secret, true);
    System.out.println("upload: " + request.length() + " bytes, TEK HMAC " + hmac);
    Files.writeString(folder.resolve("publish.json"), request);
    Arrays.fill(tek.key_data, (byte) 0); // the key is secret: wipe it

    // 6. Bluezone 2020: the shipped F0 list against the shipped history.
    String samples = "cli/tests/cmd/samples.in/";
    Phone.BlidCheck blid = Phone.blidCheck(Files.readString(Path.of(samples + "f0.json"), StandardCharsets.UTF_8),
        Files.readString(Path.of(samples + "data_trace.txt"), StandardCharsets.UTF_8), false, 1_596_990_000L,
        (byte) -70);
    System.out.println("Bluezone 2020: contact " + (blid.verdict.contact != 0 ? "yes" : "no") + ", F1 "
        + (blid.verdict.f1 != 0 ? "yes" : "no"));
  }
}
