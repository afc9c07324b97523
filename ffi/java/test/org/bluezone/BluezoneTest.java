package org.bluezone;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.bluezone.Bluezone.BluezoneException;
import org.bluezone.Bluezone.DiagnosisKey;
import org.bluezone.Bluezone.Export;
import org.bluezone.Bluezone.GaenAdvertisement;
import org.bluezone.Bluezone.Match;
import org.bluezone.Bluezone.Matcher;
import org.bluezone.Bluezone.Tek;
import org.bluezone.Bluezone.Verdict;

/**
 * Plain-Java tests of the JNA wrapper: the official GAEN vectors, the captured advertisements,
 * the companion matching sample and bad input. Data comes from a file of lines that
 * ffi/tests/vectors.py writes from test-vectors/. Prints "N passed, M failed".
 */
public final class BluezoneTest {
  private static final HexFormat HEX = HexFormat.of();
  private static int passed;
  private static int failed;

  private static void check(boolean ok, String what) {
    if (ok) {
      passed++;
    } else {
      failed++;
      System.out.println("FAILED: " + what);
    }
  }

  private static byte[] hex(String text) {
    return text.equals("-") ? new byte[0] : HEX.parseHex(text);
  }

  private static int status(Runnable call) {
    try {
      call.run();
      return 0;
    } catch (BluezoneException e) {
      return e.status;
    }
  }

  public static void main(String[] args) throws Exception {
    List<String[]> lines = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of(args[0]))) {
      lines.add(line.split(" "));
    }
    String export = null;
    String csv = null;
    long keys = 0;
    String[] cli = null;
    List<String[]> companion = new ArrayList<>();
    for (String[] f : lines) {
      switch (f[0]) {
        case "official": {
          Tek tek = Bluezone.temporaryExposureKey(hex(f[1]), Integer.parseInt(f[2]), Integer.parseInt(f[3]));
          int at = Integer.parseInt(f[4]) - Integer.parseInt(f[2]);
          List<byte[]> rpis = Bluezone.rollingProximityIdentifiers(tek);
          List<byte[]> aems = Bluezone.associatedEncryptedMetadata(tek, hex(f[6]));
          check(rpis.size() == 144 && Arrays.equals(rpis.get(at), hex(f[5])), "rpi of interval " + f[4]);
          check(Arrays.equals(aems.get(at), hex(f[7])), "aem of interval " + f[4]);
          check(Arrays.equals(Bluezone.decryptMetadata(hex(f[1]), hex(f[5]), hex(f[7])), hex(f[6])), "metadata " + f[4]);
          byte[] payload = Bluezone.gaenAdvertisement(hex(f[5]), hex(f[7]), Integer.parseInt(f[8], 16));
          check(Arrays.equals(payload, hex(f[9])), "advertisement " + f[4]);
          check(Bluezone.intervalNumber(Long.parseLong(f[4]) * 600) == Integer.parseInt(f[4]), "interval " + f[4]);
          break;
        }
        case "advertisement": {
          GaenAdvertisement ad = Bluezone.parseGaenAdvertisement(hex(f[1]));
          check(Arrays.equals(ad.rpi, hex(f[2])) && Arrays.equals(ad.aem, hex(f[3])), "parse " + f[1]);
          check(f[4].equals("-") ? ad.has_flags == 0 : ad.has_flags == 1 && ad.flags == (byte) Integer.parseInt(f[4], 16),
              "flags of " + f[1]);
          break;
        }
        case "bad_advertisement":
          check(status(() -> Bluezone.parseGaenAdvertisement(hex(f[1]))) == 5, "refused " + f[1]);
          break;
        case "companion_match":
          companion.add(f);
          break;
        case "companion_export":
          export = f[1];
          break;
        case "companion_csv":
          csv = f[1];
          break;
        case "companion_keys":
          keys = Long.parseLong(f[1]);
          break;
        case "companion_cli":
          cli = f;
          break;
        default:
          throw new IllegalArgumentException("unknown line " + f[0]);
      }
    }

    final Path companionCsv = Path.of(csv);
    // The companion sample: keys streamed from the export in batches of 100.
    try (Export file = new Export(Path.of(export), null, true); Matcher matcher = new Matcher()) {
      check(file.info().keys == keys, "companion key count");
      matcher.addEncounters(companionCsv);
      List<DiagnosisKey> batch = new ArrayList<>();
      DiagnosisKey key;
      while ((key = file.nextKey()) != null) {
        batch.add(key);
        if (batch.size() == 100) {
          matcher.addKeys(batch);
          batch.clear();
        }
      }
      matcher.addKeys(batch);
      Verdict verdict = matcher.verdict(0);
      check(verdict.keys_total == keys && verdict.keys_matched == companion.size(), "companion matched keys");
      List<Match> matches = matcher.matches();
      for (int i = 0; i < companion.size() && i < matches.size(); i++) {
        check(Arrays.equals(matches.get(i).key.key_data, hex(companion.get(i)[1]))
            && matches.get(i).sightings == Long.parseLong(companion.get(i)[2]), "companion match " + i);
      }
      check(verdict.f1 == Byte.parseByte(cli[1]) && verdict.exposure_windows == Long.parseLong(cli[2])
          && verdict.now_unix_seconds == Long.parseLong(cli[3]), "companion verdict as bluezone match gives it");
      check(status(() -> matcher.addEncounters(companionCsv)) == 8, "sightings after keys");
    }

    // Bad input.
    check(status(() -> Bluezone.temporaryExposureKey(new byte[15], 2642976, 144)) == 4, "15 bytes of entropy");
    check(status(() -> Bluezone.temporaryExposureKey(new byte[16], 2642976, 0)) == 4, "rolling period 0");
    check(status(() -> new Export(Path.of("no such file.zip"), null, true)) == 7, "missing file");
    check(status(() -> new Export(companionCsv, null, true)) == 5, "a CSV is not an export");
    try (Export file = new Export(Path.of(export), null, false)) {
      check(status(file::nextKey) == 6, "keys of an unverified file are withheld");
    }
    try {
      Bluezone.parseGaenAdvertisement(new byte[] {0x02, 0x01});
      check(false, "truncated payload");
    } catch (BluezoneException e) {
      check(e.getMessage().contains("truncated"), "the message says why: " + e.getMessage());
    }
    check(!Bluezone.version().isEmpty(), "version");

    // The loop's calls: what they refuse, and a log segment read back from memory.
    check(Phone.heard(new byte[] {0x02, 0x01, 0x1a}, new Phone.Reception()) == null, "neither protocol");
    check(status(() -> Phone.heard(new byte[] {0x40, 0x01}, new Phone.Reception())) == 5, "a malformed payload");
    check(status(() -> Phone.readSegment(new byte[64])) == 5, "zeros are not a segment");
    check(status(() -> Phone.logRead(Path.of("no such log folder"))) == 7, "no log");
    List<Path> exportFile = List.of(Path.of(export));
    Phone.CheckSettings strict = new Phone.CheckSettings();
    check(status(() -> Phone.check(exportFile, List.of(), strict)) == 4,
        "no public key, and unauthentic files not allowed");
    Phone.CheckSettings unknown = new Phone.CheckSettings();
    unknown.allow_unauthentic = 1;
    unknown.risk_model = "wizard";
    check(status(() -> Phone.check(exportFile, List.of(), unknown)) == 4, "an unknown model");
    Phone.CheckSettings allow = new Phone.CheckSettings();
    allow.allow_unauthentic = 1;
    Phone.DailyCheck fromDisk = Phone.check(exportFile, List.of(), allow);
    Phone.DailyCheck fromMemory = Phone.checkInMemory(List.of(java.nio.file.Files.readAllBytes(Path.of(export))),
        List.of(), allow);
    check(fromDisk.verdict.keys_total == fromMemory.verdict.keys_total && fromDisk.verdict.keys_total > 0,
        "a file in memory is the file on disk");
    allow.state_dir = "target/ffi-java/never-made";
    check(status(() -> Phone.checkInMemory(List.of(new byte[4]), List.of(), allow)) == 4,
        "a state needs the files on disk");
    Bluezone.DiagnosisKey key = new Bluezone.DiagnosisKey();
    key.rolling_start_interval_number = 2642976;
    key.rolling_period = 144;
    check(status(() -> Phone.publishRequest(List.of(key), new byte[8])) == 4, "an HMAC secret of 8 bytes");
    check(Phone.tekHmac(List.of(key), new byte[16], true).length() == 44, "an HMAC in base64");
    check(status(() -> Phone.blidCheck("not json", "", false, 0, null)) == 5, "an F0 list that is not JSON");

    System.out.println(passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }
}
