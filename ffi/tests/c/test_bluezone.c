/*
 * Tests of the C ABI, in C99: the official GAEN vectors, the captured advertisements, the
 * Bluezone identifiers of a real phone, the encounter-record vectors, every shared export
 * sample against its manifest, the companion matching sample, and bad input. Data comes from
 * vectors.h, which ffi/tests/vectors.py writes from test-vectors/. Run by ffi/tests/run.sh,
 * under valgrind.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bluezone.h"
#include "vectors.h"

static int passed = 0;
static int failed = 0;

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static void check(int ok, const char *what, const char *name) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAILED: %s (%s): %s\n", what, name, bz_error_message());
  }
}

/* The whole file as a NUL-terminated string (the caller frees it). */
static char *read_text(const char *path) {
  FILE *file = fopen(path, "rb");
  char *text = NULL;
  long size;
  if (file == NULL) return NULL;
  if (fseek(file, 0, SEEK_END) == 0 && (size = ftell(file)) >= 0 && fseek(file, 0, SEEK_SET) == 0) {
    text = malloc((size_t)size + 1);
    if (text != NULL && fread(text, 1, (size_t)size, file) == (size_t)size) {
      text[size] = '\0';
    } else {
      free(text);
      text = NULL;
    }
  }
  fclose(file);
  return text;
}

static void test_official_vectors(void) {
  size_t i;
  for (i = 0; i < COUNT(OFFICIAL); i++) {
    const struct official *v = &OFFICIAL[i];
    bz_tek tek;
    uint8_t rpis[144 * 16], aems[144 * 4], rpi[16], metadata[4], payload[31];
    size_t count = 0;
    uint32_t interval = 0;
    size_t at = v->interval - v->start;
    check(bz_tek_from_entropy(v->tek, 16, v->start, v->period, &tek) == BZ_STATUS_OK, "tek", "official");
    check(bz_rpis(&tek, rpis, sizeof rpis, &count) == BZ_STATUS_OK && count == v->period, "rpis", "official");
    check(memcmp(rpis + 16 * at, v->rpi, 16) == 0, "rpi of the day", "official");
    check(bz_rpi_at(&tek, v->interval, rpi) == BZ_STATUS_OK && memcmp(rpi, v->rpi, 16) == 0, "rpi at", "official");
    check(bz_aems(&tek, v->metadata, aems, sizeof aems, &count) == BZ_STATUS_OK && count == v->period, "aems", "official");
    check(memcmp(aems + 4 * at, v->aem, 4) == 0, "aem of the day", "official");
    check(bz_aem_decrypt(v->tek, v->rpi, v->aem, metadata) == BZ_STATUS_OK && memcmp(metadata, v->metadata, 4) == 0,
          "aem decrypt", "official");
    check(bz_gaen_advertisement_encode(v->rpi, v->aem, v->flags, payload) == BZ_STATUS_OK &&
              memcmp(payload, v->advertisement, 31) == 0,
          "advertisement", "official");
    check(bz_interval_number((uint64_t)v->interval * 600u + 599u, &interval) == BZ_STATUS_OK && interval == v->interval,
          "interval number", "official");
  }
}

static void test_advertisements(void) {
  size_t i;
  for (i = 0; i < COUNT(ADVERTISEMENTS); i++) {
    const struct advertisement *v = &ADVERTISEMENTS[i];
    bz_gaen_advertisement parsed;
    bz_advertisement classified;
    bz_status status = bz_gaen_advertisement_parse(v->payload, v->len, &parsed);
    if (v->ok) {
      check(status == BZ_STATUS_OK, "parse", v->name);
      check(memcmp(parsed.rpi, v->rpi, 16) == 0 && memcmp(parsed.aem, v->aem, 4) == 0, "rpi and aem", v->name);
      check(parsed.has_flags == (v->has_flags != 0) && (!v->has_flags || parsed.flags == v->flags), "flags", v->name);
      check(parsed.lists_service_uuid == (v->lists_uuid != 0), "uuid list", v->name);
      check(bz_advertisement_classify(v->payload, v->len, &classified) == BZ_STATUS_OK &&
                classified.kind == BZ_ADVERTISEMENT_KIND_GAEN && memcmp(classified.gaen.rpi, v->rpi, 16) == 0,
            "classify", v->name);
    } else {
      check(status == BZ_STATUS_MALFORMED, "refused as malformed", v->name);
      check(strlen(bz_error_message()) > 0, "says why", v->name);
    }
  }
}

static void test_bluezone(void) {
  size_t i;
  for (i = 0; i < COUNT(BLUEZONE); i++) {
    const struct bluezone *v = &BLUEZONE[i];
    uint8_t id[12], payload[23];
    bz_advertisement classified;
    check(bz_bluezone_identifier(v->base_key, v->base_time_s, v->t_ms, id) == BZ_STATUS_OK && memcmp(id, v->id, 12) == 0,
          "bluezone identifier", v->name);
    check(bz_bluezone_advertisement_encode(v->id, 0x1a, payload) == BZ_STATUS_OK, "bluezone advertisement", v->name);
    check(bz_advertisement_classify(payload, sizeof payload, &classified) == BZ_STATUS_OK &&
              classified.kind == BZ_ADVERTISEMENT_KIND_BLUEZONE_ANDROID && memcmp(classified.bluezone_id, v->id, 12) == 0,
          "bluezone advertisement read back", v->name);
  }
}

static void test_records(void) {
  size_t i;
  for (i = 0; i < COUNT(RECORDS); i++) {
    const struct record *v = &RECORDS[i];
    bz_sighting decoded;
    uint8_t out[64];
    size_t written = 0;
    bz_status status = bz_sighting_decode(v->bytes, v->len, &decoded);
    if (!v->ok) {
      check(status == BZ_STATUS_MALFORMED, "refused", v->name);
      continue;
    }
    check(status == BZ_STATUS_OK, "decode", v->name);
    if (v->gaen) {
      bz_gaen_sighting s;
      memset(&s, 0, sizeof s);
      s.unix_seconds = v->time;
      memcpy(s.rpi, v->rpi, 16);
      memcpy(s.aem, v->aem, 4);
      s.rssi = v->rssi;
      s.previous_scan_unix_seconds = v->previous;
      check(decoded.kind == 1 && decoded.gaen.unix_seconds == v->time && decoded.gaen.rssi == v->rssi &&
                decoded.gaen.previous_scan_unix_seconds == v->previous && memcmp(decoded.gaen.rpi, v->rpi, 16) == 0,
            "decoded gaen fields", v->name);
      check(bz_gaen_sighting_encode(&s, out, sizeof out, &written) == BZ_STATUS_OK && written == v->len &&
                memcmp(out, v->bytes, v->len) == 0,
            "encode gaen", v->name);
      check(bz_gaen_sighting_encode(&s, out, v->len - 1, &written) == BZ_STATUS_BUFFER_TOO_SMALL, "small buffer",
            v->name);
    } else {
      bz_bluezone_sighting s;
      memset(&s, 0, sizeof s);
      s.unix_ms = v->time;
      memcpy(s.contact_id, v->contact, 12);
      memcpy(s.own_id, v->own, 12);
      s.rssi = v->rssi;
      check(decoded.kind == 2 && decoded.bluezone.unix_ms == v->time && memcmp(decoded.bluezone.own_id, v->own, 12) == 0,
            "decoded bluezone fields", v->name);
      check(bz_bluezone_sighting_encode(&s, out, sizeof out, &written) == BZ_STATUS_OK && written == v->len &&
                memcmp(out, v->bytes, v->len) == 0,
            "encode bluezone", v->name);
    }
  }
}

static void test_exports(void) {
  size_t i;
  for (i = 0; i < COUNT(EXPORTS); i++) {
    const struct export_sample *v = &EXPORTS[i];
    char *pem = v->public_key != NULL ? read_text(v->public_key) : NULL;
    bz_export *export = NULL;
    bz_export_info info;
    bz_diagnosis_key key;
    uint64_t streamed = 0;
    bz_status status;
    check(v->public_key == NULL || pem != NULL, "public key readable", v->file);
    check(bz_export_open(v->file, pem, 1, &export) == BZ_STATUS_OK, "open", v->file);
    check(bz_export_inspect(export, &info) == BZ_STATUS_OK, "info", v->file);
    check(info.keys == v->keys + v->revised && info.revised_keys == v->revised && info.invalid_keys == 0, "key count",
          v->file);
    if (v->verifies == 1) {
      check(info.verification == BZ_VERIFICATION_AUTHENTIC, "signature verifies", v->file);
    } else {
      check(info.verification == BZ_VERIFICATION_NOT_CHECKED, "nothing to verify against", v->file);
    }
    while ((status = bz_export_next_key(export, &key)) == BZ_STATUS_OK) streamed++;
    check(status == BZ_STATUS_END && streamed == info.keys, "every key streamed", v->file);
    bz_export_free(export);
    /* Without allow_unauthentic only an authentic file gives keys. */
    export = NULL;
    check(bz_export_open(v->file, pem, 0, &export) == BZ_STATUS_OK, "open strictly", v->file);
    status = bz_export_next_key(export, &key);
    check(v->verifies == 1 ? status == BZ_STATUS_OK : status == BZ_STATUS_NOT_AUTHENTIC, "keys only when authentic",
          v->file);
    bz_export_free(export);
    free(pem);
  }
  /* A signed file under another authority's key is not authentic. */
  {
    char *other = read_text(EXPORTS[1].public_key);
    bz_export *export = NULL;
    bz_export_info info;
    bz_diagnosis_key key;
    check(bz_export_open(EXPORTS[0].file, other, 0, &export) == BZ_STATUS_OK, "open under another key", "wrong key");
    check(bz_export_inspect(export, &info) == BZ_STATUS_OK && info.verification == BZ_VERIFICATION_NOT_AUTHENTIC &&
              !info.keys_released,
          "not authentic", "wrong key");
    check(bz_export_next_key(export, &key) == BZ_STATUS_NOT_AUTHENTIC, "keys withheld", "wrong key");
    bz_export_free(export);
    free(other);
  }
  {
    char region[8];
    size_t len = 0;
    bz_export *export = NULL;
    check(bz_export_open(EXPORTS[0].file, NULL, 1, &export) == BZ_STATUS_OK, "open", "region");
    check(bz_export_region(export, region, sizeof region, &len) == BZ_STATUS_OK && len == 2 && strcmp(region, "US") == 0,
          "region", "google-internals sample");
    check(bz_export_region(export, region, 2, &len) == BZ_STATUS_BUFFER_TOO_SMALL, "region buffer too small", "region");
    bz_export_free(export);
  }
}

static void test_companion(void) {
  bz_export *export = NULL;
  bz_matcher *matcher = NULL;
  bz_verdict verdict;
  bz_match match;
  bz_diagnosis_key keys[64];
  size_t n = 0, i;
  bz_status status;
  uint64_t streamed = 0;
  check(bz_matcher_new(&matcher) == BZ_STATUS_OK, "matcher", "companion");
  check(bz_matcher_add_encounters(matcher, COMPANION_CSV) == BZ_STATUS_OK, "encounters", "companion");
  check(bz_export_open(COMPANION_EXPORT, NULL, 1, &export) == BZ_STATUS_OK, "open", "companion");
  /* Keys streamed in batches of up to 64, as a phone would feed them. */
  while ((status = bz_export_next_key(export, &keys[n])) == BZ_STATUS_OK) {
    streamed++;
    if (++n == COUNT(keys)) {
      check(bz_matcher_add_keys(matcher, keys, n) == BZ_STATUS_OK, "batch", "companion");
      n = 0;
    }
  }
  check(status == BZ_STATUS_END && streamed == COMPANION_KEYS, "every key", "companion");
  check(bz_matcher_add_keys(matcher, keys, n) == BZ_STATUS_OK, "last batch", "companion");
  check(bz_matcher_verdict(matcher, 0, &verdict) == BZ_STATUS_OK, "verdict", "companion");
  check(verdict.keys_total == COMPANION_KEYS && verdict.keys_matched == COUNT(COMPANION), "matched keys", "companion");
  for (i = 0; i < COUNT(COMPANION) && i < verdict.keys_matched; i++) {
    check(bz_matcher_match(matcher, i, &match) == BZ_STATUS_OK && memcmp(match.key.key_data, COMPANION[i].tek, 16) == 0 &&
              match.sightings == COMPANION[i].sightings,
          "match and its sightings", "companion");
  }
  check(verdict.f1 == (COMPANION_CLI_F1 != 0) && verdict.exposure_windows == COMPANION_CLI_WINDOWS &&
            verdict.now_unix_seconds == COMPANION_CLI_NOW,
        "the verdict bluezone match gives", "companion");
  check(bz_matcher_match(matcher, verdict.keys_matched, &match) == BZ_STATUS_INVALID_ARGUMENT, "match out of range",
        "companion");
  check(bz_matcher_add_encounters(matcher, COMPANION_CSV) == BZ_STATUS_INVALID_STATE, "sightings after keys",
        "companion");
  bz_matcher_free(matcher);
  /* The same keys in one call from the export handle give the same verdict. */
  matcher = NULL;
  {
    bz_verdict again;
    check(bz_matcher_new(&matcher) == BZ_STATUS_OK && bz_matcher_add_encounters(matcher, COMPANION_CSV) == BZ_STATUS_OK &&
              bz_matcher_add_export(matcher, export) == BZ_STATUS_OK && bz_matcher_verdict(matcher, 0, &again) == BZ_STATUS_OK,
          "whole export", "companion");
    check(again.f1 == verdict.f1 && again.keys_matched == verdict.keys_matched &&
              again.longest_close_seconds == verdict.longest_close_seconds && again.contact_days == verdict.contact_days,
          "same verdict", "companion");
  }
  bz_matcher_free(matcher);
  bz_export_free(export);
}

static unsigned hex_digit(char c) {
  return (unsigned)(c >= 'a' ? c - 'a' + 10 : c >= 'A' ? c - 'A' + 10 : c - '0');
}

static int read_hex(const char *text, uint8_t *out, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (!isxdigit((unsigned char)text[2 * i]) || !isxdigit((unsigned char)text[2 * i + 1])) {
      return 0;
    }
    out[i] = (uint8_t)(hex_digit(text[2 * i]) << 4 | hex_digit(text[2 * i + 1]));
  }
  return 1;
}

/* The companion sample's sightings (CSV `unix_seconds,rpi,aem,rssi`) as a wristband keeps them. */
static size_t read_sightings(bz_gaen_sighting *log, size_t capacity) {
  char line[256], rpi[64], aem[64];
  unsigned long long when;
  int rssi;
  size_t n = 0;
  FILE *file = fopen(COMPANION_CSV, "r");
  if (file == NULL) {
    return 0;
  }
  while (fgets(line, sizeof line, file) != NULL && n < capacity) {
    if (sscanf(line, "%llu,%63[0-9a-f],%63[0-9a-f],%d", &when, rpi, aem, &rssi) != 4) {
      continue; /* the header */
    }
    memset(&log[n], 0, sizeof log[n]);
    log[n].unix_seconds = when;
    log[n].rssi = (int8_t)rssi;
    if (read_hex(rpi, log[n].rpi, 16) && read_hex(aem, log[n].aem, 4)) {
      n++;
    }
  }
  fclose(file);
  return n;
}

struct band_found {
  uint8_t key[16];
  uint64_t sightings;
};

/* Counts the sightings of a matched key; each is one the rules accepted, so its TX power is
 * within the default bounds (-50 to +20 dBm). */
static void count_sighting(void *context, const bz_matched_sighting *s) {
  uint64_t *count = context;
  *count += s->tx_power >= -50 && s->tx_power <= 20 && s->unix_seconds > 0;
}

/* The band matcher (no allocator, caller-owned buffers) on the companion sample matches the
 * keys, with the sightings, that `bluezone match` and the hosted matcher match (§match.8). */
static void test_band(void) {
  static bz_gaen_sighting log[1024];
  bz_stored_key table[16], small_table[1];
  bz_band_matcher band, small;
  bz_band_counts counts;
  bz_band_outcome outcome;
  bz_diagnosis_key key;
  bz_export *export = NULL;
  struct band_found found[16];
  size_t n = read_sightings(log, COUNT(log)), matched = 0, i, j;
  bz_status status, small_status = BZ_STATUS_OK;
  check(n == 534, "the sample's sightings", "band");
  check(bz_band_matcher_init(&band, log, n, table, COUNT(table), NULL) == BZ_STATUS_OK, "init", "band");
  check(bz_band_matcher_init(&small, log, n, small_table, COUNT(small_table), NULL) == BZ_STATUS_OK, "init small",
        "band");
  check(bz_export_open(COMPANION_EXPORT, NULL, 1, &export) == BZ_STATUS_OK, "open", "band");
  while ((status = bz_export_next_key(export, &key)) == BZ_STATUS_OK) {
    uint64_t sightings = 0;
    check(bz_band_matcher_check(&band, &key, count_sighting, &sightings, &outcome) == BZ_STATUS_OK, "check", "band");
    if (outcome.result == BZ_BAND_RESULT_MATCHED && matched < COUNT(found)) {
      memcpy(found[matched].key, key.key_data, 16);
      found[matched].sightings = sightings;
      check(outcome.sightings == sightings, "the callback saw every sighting", "band");
      matched++;
    }
    if (small_status == BZ_STATUS_OK) {
      small_status = bz_band_matcher_check(&small, &key, NULL, NULL, &outcome);
    }
  }
  check(status == BZ_STATUS_END, "every key", "band");
  check(bz_band_matcher_counts(&band, &counts) == BZ_STATUS_OK && counts.keys_total == COMPANION_KEYS &&
            counts.keys_matched == COUNT(COMPANION) && matched == COUNT(COMPANION),
        "the keys bluezone match matches", "band");
  for (i = 0; i < COUNT(COMPANION); i++) {
    int same = 0;
    for (j = 0; j < matched; j++) {
      same |= memcmp(found[j].key, COMPANION[i].tek, 16) == 0 && found[j].sightings == COMPANION[i].sightings;
    }
    check(same, "a key and its sightings as bluezone match gives them", "band");
  }
  check(small_status == BZ_STATUS_BUFFER_TOO_SMALL && strstr(bz_error_message(), "full") != NULL,
        "a full table is refused and named", "band");
  check(bz_band_matcher_counts(&small, &counts) == BZ_STATUS_OK && counts.keys_matched == 1,
        "the refused key changed nothing", "band");
  bz_export_free(export);
  memset(&band, 0, sizeof band);
  check(bz_band_matcher_check(&band, &key, NULL, NULL, &outcome) == BZ_STATUS_INVALID_STATE, "not set up", "band");
}

/* The phone loop's calls refuse what they cannot use, each with its status and a message. */
static void test_phone_refusals(void) {
  bz_device_calibration calibration;
  bz_reception reception;
  bz_sighting sighting, sightings[4];
  bz_check_settings settings;
  bz_check_result *result = NULL;
  bz_diagnosis_key key;
  bz_blid_verdict blid;
  const char *files[] = {COMPANION_EXPORT};
  uint8_t payload[31] = {0x02, 0x01, 0x1a}, secret[8] = {0}, garbage[64];
  char text[64];
  size_t count = 0, written = 0;
  check(bz_calibration("samsung", NULL, "SM-G973F", "1999-01-01", &calibration) == BZ_STATUS_INVALID_ARGUMENT,
        "no such table", "phone");
  check(bz_calibration("samsung", NULL, "SM-G973F", NULL, &calibration) == BZ_STATUS_OK && calibration.fallback == 0,
        "a phone of the table", "phone");
  memset(&reception, 0, sizeof reception);
  check(bz_heard(payload, 3, &reception, &sighting) == BZ_STATUS_END && sighting.kind == 0, "neither protocol",
        "phone");
  payload[0] = 0x40;
  check(bz_heard(payload, 3, &reception, &sighting) == BZ_STATUS_MALFORMED, "a structure past the end", "phone");
  memset(sightings, 0, sizeof sightings);
  sightings[0].kind = 7;
  check(bz_log_append("target/ffi-tests/refused-log", sightings, 1) == BZ_STATUS_INVALID_ARGUMENT &&
            strstr(bz_error_message(), "kind") != NULL,
        "a sighting of no kind", "phone");
  memset(garbage, 0xA5, sizeof garbage);
  check(bz_log_read_segment(garbage, sizeof garbage, sightings, 4, &count) == BZ_STATUS_MALFORMED, "not a segment",
        "phone");
  check(bz_log_read("no such log folder", sightings, 4, &count) == BZ_STATUS_IO, "no log", "phone");
  memset(&settings, 0, sizeof settings);
  check(bz_check(files, 1, NULL, 0, &settings, &result) == BZ_STATUS_INVALID_ARGUMENT && result == NULL,
        "no public key and unauthentic files refused", "phone");
  settings.allow_unauthentic = 1;
  settings.risk_model = "wizard";
  check(bz_check(files, 1, NULL, 0, &settings, &result) == BZ_STATUS_INVALID_ARGUMENT &&
            strstr(bz_error_message(), "wizard") != NULL,
        "an unknown model", "phone");
  settings.risk_model = NULL;
  settings.risk_config_json = "{\"no_such_field\": 1}";
  check(bz_check(files, 1, NULL, 0, &settings, &result) == BZ_STATUS_INVALID_ARGUMENT, "a bad risk configuration",
        "phone");
  settings.risk_config_json = NULL;
  check(bz_check(files, 1, NULL, 0, &settings, &result) == BZ_STATUS_OK && result != NULL, "no sightings", "phone");
  check(bz_check_result_json(result, text, sizeof text, &written) == BZ_STATUS_BUFFER_TOO_SMALL && written > sizeof text,
        "the document's length when the buffer is short", "phone");
  bz_check_result_free(result);
  bz_check_result_free(NULL);
  memset(&key, 0, sizeof key);
  key.rolling_start_interval_number = 2642976u;
  key.rolling_period = 144;
  check(bz_publish_request(&key, 1, secret, sizeof secret, text, sizeof text, &written) == BZ_STATUS_INVALID_ARGUMENT,
        "an HMAC secret of 8 bytes", "phone");
  check(bz_blid_check("{}", "", 3, 0, 0, 0, &blid, text, sizeof text, &written) == BZ_STATUS_INVALID_ARGUMENT,
        "a unit that is neither", "phone");
  check(bz_blid_check("not json", "", 0, 0, 0, 0, &blid, text, sizeof text, &written) == BZ_STATUS_MALFORMED,
        "an F0 list that is not JSON", "phone");
}

/* The daily check over an export file held in memory gives what it gives over the file on
 * disk, and refuses a match state, which reads its files from disk. */
static void test_check_in_memory(void) {
  static bz_gaen_sighting log[1024];
  static uint8_t zip[1 << 20];
  const char *paths[] = {COMPANION_EXPORT};
  const uint8_t *files[1];
  size_t lengths[1], n = read_sightings(log, COUNT(log)), json_on_disk = 0, json_in_memory = 0;
  bz_check_settings settings;
  bz_check_result *on_disk = NULL, *in_memory = NULL;
  bz_verdict a, b;
  FILE *file = fopen(COMPANION_EXPORT, "rb");
  lengths[0] = file == NULL ? 0 : fread(zip, 1, sizeof zip, file);
  if (file != NULL) fclose(file);
  files[0] = zip;
  check(lengths[0] > 0 && lengths[0] < sizeof zip, "the sample's bytes", "in memory");
  memset(&settings, 0, sizeof settings);
  settings.allow_unauthentic = 1;
  settings.risk_model = "cwa";
  check(bz_check(paths, 1, log, n, &settings, &on_disk) == BZ_STATUS_OK &&
            bz_check_in_memory(files, lengths, 1, log, n, &settings, &in_memory) == BZ_STATUS_OK,
        "both checks", "in memory");
  check(bz_check_result_verdict(on_disk, &a) == BZ_STATUS_OK && bz_check_result_verdict(in_memory, &b) == BZ_STATUS_OK &&
            a.f1 == b.f1 && a.keys_matched == b.keys_matched && a.exposure_windows == b.exposure_windows &&
            a.longest_close_seconds == b.longest_close_seconds && a.keys_matched == COUNT(COMPANION),
        "the same verdict", "in memory");
  check(bz_check_result_json(on_disk, NULL, 0, &json_on_disk) == BZ_STATUS_BUFFER_TOO_SMALL &&
            bz_check_result_json(in_memory, NULL, 0, &json_in_memory) == BZ_STATUS_BUFFER_TOO_SMALL &&
            json_in_memory > 0 && json_on_disk > 0,
        "documents of both", "in memory");
  bz_check_result_free(on_disk);
  bz_check_result_free(in_memory);
  settings.state_dir = "target/ffi-tests/never-made";
  check(bz_check_in_memory(files, lengths, 1, log, n, &settings, &in_memory) == BZ_STATUS_INVALID_ARGUMENT &&
            strstr(bz_error_message(), "on disk") != NULL && in_memory == NULL,
        "a state needs the files on disk", "in memory");
}

static void test_bad_input(void) {
  bz_tek tek;
  uint8_t small[16], entropy[16] = {0};
  size_t count = 0;
  bz_export *export = NULL;
  bz_matcher *matcher = NULL;
  bz_diagnosis_key key;
  bz_gaen_advertisement parsed;
  check(bz_tek_from_entropy(entropy, 15, 2642976u, 144u, &tek) == BZ_STATUS_INVALID_ARGUMENT, "15 bytes of entropy", "bad");
  check(bz_tek_from_entropy(entropy, 16, 2642976u, 0u, &tek) == BZ_STATUS_INVALID_ARGUMENT, "rolling period 0", "bad");
  check(bz_tek_from_entropy(entropy, 16, 2642976u, 145u, &tek) == BZ_STATUS_INVALID_ARGUMENT, "rolling period 145", "bad");
  check(bz_tek_from_entropy(NULL, 16, 2642976u, 144u, &tek) == BZ_STATUS_NULL_POINTER, "NULL entropy", "bad");
  check(bz_tek_from_entropy(entropy, 16, 2642976u, 144u, &tek) == BZ_STATUS_OK, "tek", "bad");
  check(bz_rpis(&tek, small, sizeof small, &count) == BZ_STATUS_BUFFER_TOO_SMALL, "rpi buffer too small", "bad");
  check(strstr(bz_error_message(), "2304") != NULL, "message says the size needed", "bad");
  check(bz_rpis(NULL, small, sizeof small, &count) == BZ_STATUS_NULL_POINTER, "NULL tek", "bad");
  check(bz_rpi_at(&tek, 2642976u + 144u, small) == BZ_STATUS_INVALID_ARGUMENT, "interval outside the window", "bad");
  check(bz_gaen_advertisement_parse(NULL, 0, &parsed) == BZ_STATUS_MALFORMED, "empty payload", "bad");
  check(bz_gaen_advertisement_parse(NULL, 5, &parsed) == BZ_STATUS_NULL_POINTER, "NULL payload", "bad");
  check(bz_export_open("no such file.zip", NULL, 1, &export) == BZ_STATUS_IO && export == NULL, "missing file", "bad");
  check(bz_export_open(COMPANION_CSV, NULL, 1, &export) == BZ_STATUS_MALFORMED && export == NULL, "not an export", "bad");
  check(bz_export_open(EXPORTS[0].file, "not a key", 1, &export) == BZ_STATUS_INVALID_ARGUMENT, "bad PEM", "bad");
  check(bz_matcher_new(&matcher) == BZ_STATUS_OK, "matcher", "bad");
  check(bz_matcher_add_encounters(matcher, EXPORTS[0].file) == BZ_STATUS_MALFORMED, "a zip is not a CSV", "bad");
  memset(&key, 0, sizeof key);
  key.rolling_start_interval_number = 2642976u;
  key.rolling_period = 144u;
  key.report_type = 9;
  check(bz_matcher_add_keys(matcher, &key, 1) == BZ_STATUS_INVALID_ARGUMENT, "report type 9", "bad");
  check(strstr(bz_error_message(), "key 0") != NULL, "names the key", "bad");
  check(bz_matcher_match(matcher, 0, NULL) == BZ_STATUS_NULL_POINTER, "NULL match", "bad");
  bz_matcher_free(matcher);
  bz_matcher_free(NULL);
  bz_export_free(NULL);
  check(strcmp(bz_status_text(BZ_STATUS_MALFORMED), "the input is malformed") == 0, "status text", "bad");
  check(strcmp(bz_status_text(77), "unknown status") == 0, "unknown status text", "bad");
  check(strlen(bz_version()) > 0, "version", "bad");
}

int main(void) {
  test_official_vectors();
  test_advertisements();
  test_bluezone();
  test_records();
  test_exports();
  test_companion();
  test_band();
  test_phone_refusals();
  test_check_in_memory();
  test_bad_input();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
