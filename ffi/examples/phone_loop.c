/* The whole on-device loop in C, from memory, on the shipped companion sample:
 *
 * 1. the phone's calibration, today's key and its advertising payloads;
 * 2. what the radio heard (the sample's sightings, as the payloads they came from) turned into
 *    sightings with the phone's RSSI correction;
 * 3. the sightings appended to the crash-safe encounter log and read back;
 * 4. the daily check of the downloaded export file against the log, with the F1 rule, the
 *    Corona-Warn-App's model and a match state;
 * 5. the phone's own key released for upload: the publish request and its TEK HMAC;
 * 6. Bluezone 2020: an F0 list against the contact history.
 *
 * Run from the repository's root (ffi/tests/run.sh builds it, runs it under valgrind and
 * compares what it prints with what the bluezone tool says of the same files). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bluezone.h"

#define SAMPLES "test-vectors/export-samples/"
#define MAX_SIGHTINGS 4096

static int fail(const char *step) {
  fprintf(stderr, "%s: %s\n", step, bz_error_message());
  return 1;
}

static int hex(const char *text, uint8_t *out, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned value;
    if (sscanf(text + 2 * i, "%2x", &value) != 1) {
      return 0;
    }
    out[i] = (uint8_t)value;
  }
  return 1;
}

/* A whole text file, NUL-terminated; NULL when unreadable. */
static char *slurp(const char *path) {
  FILE *file = fopen(path, "rb");
  char *text = NULL;
  long size;
  if (file != NULL && fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0 &&
      (text = malloc((size_t)size + 1)) != NULL) {
    text[fread(text, 1, (size_t)size, file)] = '\0';
  }
  if (file != NULL) {
    fclose(file);
  }
  return text;
}

int main(int argc, char **argv) {
  static bz_sighting heard[MAX_SIGHTINGS], logged[MAX_SIGHTINGS];
  static bz_gaen_sighting gaen[MAX_SIGHTINGS];
  static uint8_t payloads[144 * 31];
  static char document[1 << 20];
  const char *state_dir = argc > 1 ? argv[1] : "target/phone-loop-c";
  char log_dir[512], line[256], rpi_hex[64], aem_hex[64], hmac[45];
  const char *files[] = {SAMPLES "companion-demo_dks.zip"};
  bz_device_calibration me;
  bz_tek tek;
  uint8_t entropy[16], secret[32];
  size_t count = 0, n = 0, logged_count = 0, written = 0, i;
  uint32_t today;
  FILE *csv;

  /* 1. This phone and today's key: TX power from Google's December 2020 table. A phone takes
   * the 16 bytes from its CSPRNG; the example uses fixed ones so that its output repeats. */
  if (bz_calibration("samsung", NULL, "SM-G973F", NULL, &me)) return fail("calibration");
  memset(entropy, 0x42, sizeof entropy);
  if (bz_interval_number(1590000000u, &today) ||
      bz_tek_from_entropy(entropy, sizeof entropy, today - today % 144, 144, &tek))
    return fail("key");
  if (bz_day_payloads(&tek, me.tx_power_dbm, me.confidence, 0x1a, payloads, sizeof payloads, &count) || count != 144)
    return fail("payloads");

  /* 2. What the radio heard. The sample's RSSIs are calibrated already, so the correction is
   * 0 here; a phone passes its own (me.rssi_correction_db). */
  csv = fopen(SAMPLES "companion-demo-encounters.csv", "r");
  if (csv == NULL) return fail("the sample's sightings");
  while (fgets(line, sizeof line, csv) != NULL && n < MAX_SIGHTINGS) {
    unsigned long long when;
    int rssi;
    uint8_t rpi[16], aem[4], payload[31];
    bz_reception reception;
    if (sscanf(line, "%llu,%63[0-9a-f],%63[0-9a-f],%d", &when, rpi_hex, aem_hex, &rssi) != 4) continue; /* header */
    if (!hex(rpi_hex, rpi, 16) || !hex(aem_hex, aem, 4)) return fail("a CSV line");
    memset(&reception, 0, sizeof reception);
    reception.raw_rssi_dbm = (int8_t)rssi;
    reception.unix_seconds = when;
    if (bz_gaen_advertisement_encode(rpi, aem, 0x1a, payload) ||
        bz_heard(payload, sizeof payload, &reception, &heard[n]) != BZ_STATUS_OK)
      return fail("heard");
    n++;
  }
  fclose(csv);

  /* 3. The encounter log, written and read back. */
  snprintf(log_dir, sizeof log_dir, "%s/log", state_dir);
  if (bz_log_append(log_dir, heard, n) || bz_log_read(log_dir, logged, MAX_SIGHTINGS, &logged_count))
    return fail("encounter log");
  if (logged_count != n) {
    fprintf(stderr, "the log gave back %zu sightings of %zu\n", logged_count, n);
    return 1;
  }
  for (i = 0; i < logged_count; i++) gaen[i] = logged[i].gaen;

  /* 4. The daily check, with the deployment's model beside the F1 rule and a match state
   * that remembers what it read. The sample is unsigned; a phone gives its health
   * authority's public key instead of allowing unauthentic files. */
  {
    char state[512];
    bz_check_settings settings;
    bz_check_result *result = NULL;
    bz_verdict verdict;
    bz_model_verdict model;
    snprintf(state, sizeof state, "%s/state", state_dir);
    memset(&settings, 0, sizeof settings);
    settings.allow_unauthentic = 1;
    settings.risk_model = "cwa";
    settings.state_dir = state;
    if (bz_check(files, 1, gaen, logged_count, &settings, &result) || bz_check_result_verdict(result, &verdict) ||
        bz_check_result_model(result, &model) || bz_check_result_json(result, document, sizeof document, &written)) {
      bz_check_result_free(result);
      return fail("daily check");
    }
    bz_check_result_free(result);
    printf("%llu keys matched, F1: %s\n", (unsigned long long)verdict.keys_matched, verdict.f1 ? "yes" : "no");
    printf("Corona-Warn-App rules: %s risk\n", model.cwa_risk_level == 2 ? "high" : "low");
  }

  /* 5. This phone's key released for upload, with the HMAC the verification server certifies. */
  {
    bz_diagnosis_key released;
    memset(&released, 0, sizeof released);
    memcpy(released.key_data, tek.key_data, 16);
    released.rolling_start_interval_number = tek.rolling_start_interval_number;
    released.rolling_period = tek.rolling_period;
    released.report_type = 1;
    memset(secret, 0x17, sizeof secret);
    if (bz_publish_request(&released, 1, secret, sizeof secret, document, sizeof document, &written) ||
        bz_tek_hmac(&released, 1, secret, sizeof secret, 1, hmac))
      return fail("upload");
    printf("upload: %zu bytes, TEK HMAC %s\n", written - 1, hmac);
    {
      /* Kept for the test, which asks the bluezone tool for the same HMAC. */
      char path[512];
      FILE *out;
      snprintf(path, sizeof path, "%s/publish.json", state_dir);
      if ((out = fopen(path, "w")) == NULL || fputs(document, out) < 0 || fclose(out) != 0) return fail("publish.json");
    }
    memset(&tek, 0, sizeof tek); /* the key is secret: wipe it */
  }

  /* 6. Bluezone 2020: the shipped F0 list against the shipped history. */
  {
    char *f0 = slurp("cli/tests/cmd/samples.in/f0.json");
    char *history = slurp("cli/tests/cmd/samples.in/data_trace.txt");
    bz_blid_verdict blid;
    bz_status status = BZ_STATUS_IO;
    if (f0 != NULL && history != NULL)
      status = bz_blid_check(f0, history, 0, 1596990000u, 1, -70, &blid, document, sizeof document, &written);
    free(f0);
    free(history);
    if (status) return fail("Bluezone 2020");
    printf("Bluezone 2020: contact %s, F1 %s\n", blid.contact ? "yes" : "no", blid.f1 ? "yes" : "no");
  }
  return 0;
}
