/* The wristband firmware in C: Google's official vectors, then the no-allocator band matcher
 * of the C ABI on two days of a wristband's log, held to the outcome the library's main
 * matcher gives the same data (computed on the build machine by firmware/build.rs, as for the
 * Rust firmware), with the instructions each key costs. Run by firmware/run.sh under
 * qemu-system-arm -M mps2-an386 -icount shift=0; it prints "N passed, M failed". */
#include <stddef.h>
#include <stdint.h>

#include "bluezone.h"
#include "semihosting.h"

/* One official vector. */
struct official {
  uint8_t tek[16];
  uint32_t start;
  uint32_t interval;
  uint8_t rpi[16];
  uint8_t metadata[4];
  uint8_t aem[4];
  uint8_t advertisement[31];
};

/* A key the main matcher matched: its bytes, its sightings and a checksum of them. */
struct match {
  uint8_t key[16];
  size_t sightings;
  uint64_t checksum;
};

/* What the main matcher gives a day: keys checked, matched, report-type transitions, then
 * the rejections (outside tolerance, replayed, TX power, report type, duplicates, invalid
 * transitions), and the matched keys. */
struct expected {
  uint64_t counts[9];
  const struct match *matches;
  size_t n;
};

#include "data.h"

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static unsigned passed, failed;

static void print_number(uint64_t value) {
  char text[21];
  int i = 20;
  text[i] = '\0';
  do {
    text[--i] = (char)('0' + value % 10);
    value /= 10;
  } while (value != 0);
  semihosting_write(&text[i]);
}

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    semihosting_write("FAILED: ");
    semihosting_write(what);
    semihosting_write("\n");
  }
}

static int same(const uint8_t *a, const uint8_t *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    if (a[i] != b[i]) {
      return 0;
    }
  }
  return 1;
}

static void official(void) {
  size_t i, count = 0;
  static uint8_t aems[4 * 144];
  for (i = 0; i < COUNT(OFFICIAL); i++) {
    const struct official *v = &OFFICIAL[i];
    bz_tek tek;
    uint8_t rpi[16], metadata[4], payload[31];
    size_t j;
    for (j = 0; j < 16; j++) {
      tek.key_data[j] = v->tek[j];
    }
    tek.rolling_start_interval_number = v->start;
    tek.rolling_period = 144;
    check(bz_rpi_at(&tek, v->interval, rpi) == BZ_STATUS_OK && same(rpi, v->rpi, 16), "official RPI");
    /* AES-CTR: decrypting the published AEM gives the published metadata. */
    check(bz_aem_decrypt(v->tek, v->rpi, v->aem, metadata) == BZ_STATUS_OK && same(metadata, v->metadata, 4),
          "official AEM");
    check(bz_gaen_advertisement_encode(rpi, v->aem, 0x1a, payload) == BZ_STATUS_OK &&
              same(payload, v->advertisement, 31),
          "official advertisement");
    if (i == 0) {
      /* Every AEM of the first key's day, encrypted: the vectors' day is that key's. */
      check(bz_aems(&tek, v->metadata, aems, sizeof aems, &count) == BZ_STATUS_OK && count == 144, "AEMs of a day");
      for (j = 0; j < COUNT(OFFICIAL) && j < 144; j++) {
        check(same(&aems[4 * (OFFICIAL[j].interval - v->start)], OFFICIAL[j].aem, 4), "official AEM, encrypted");
      }
    }
  }
}

/* SysTick: the core clock counting down from a 24-bit reload. */
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static uint32_t ticks_since(uint32_t start) { return (start - SYST_CVR) & 0x00FFFFFFu; }

/* Runs 2 000 002 instructions: 1 000 001 iterations of subs and bne, the Rust firmware's
 * loop. */
static void delay_two_million(void) {
  uint32_t iterations = 1000001u;
  __asm__ volatile("1: subs %0, #1\n\tbne 1b" : "+r"(iterations) : : "cc");
}

/* Bytes painted below the stack pointer to find how deep the matcher goes. */
#define PAINT (16u * 1024u)
#define PATTERN 0xA5A55A5Au

static uintptr_t paint_stack(void) {
  uintptr_t sp, top, address;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  top = sp - 256;
  for (address = top - PAINT; address < top; address += 4) {
    *(volatile uint32_t *)address = PATTERN;
  }
  return top;
}

static size_t stack_used(uintptr_t top) {
  uintptr_t address = top - PAINT;
  while (address < top && *(volatile uint32_t *)address == PATTERN) {
    address += 4;
  }
  return (size_t)(top - address) + 256;
}

/* What one key's accepted sightings add up to, as the build machine sums them. */
struct sum {
  size_t count;
  uint64_t checksum;
};

static void on_sighting(void *context, const bz_matched_sighting *s) {
  struct sum *sum = context;
  sum->count++;
  sum->checksum += s->unix_seconds + s->attenuation + s->en_interval_number;
}

/* The day's log, copied into RAM (the matcher sorts it in place). */
static bz_gaen_sighting log_buffer[COUNT(FULL) > COUNT(SPARSE) ? COUNT(FULL) : COUNT(SPARSE)];
static bz_stored_key table[16];

/* Checks every key against one day's log; returns the SysTick ticks the keys took. */
static uint32_t day(const char *name, const bz_gaen_sighting *data, size_t n, const struct expected *expected,
                    size_t *stack) {
  bz_band_matcher matcher;
  bz_band_counts c;
  struct match found[16];
  size_t matched = 0, i, j;
  uint32_t start;
  uintptr_t painted;
  for (i = 0; i < n; i++) {
    log_buffer[i] = data[i];
  }
  check(bz_band_matcher_init(&matcher, log_buffer, n, table, COUNT(table), NULL) == BZ_STATUS_OK, name);
  painted = paint_stack();
  start = SYST_CVR;
  for (i = 0; i < COUNT(KEYS); i++) {
    struct sum sum = {0, 0};
    bz_band_outcome outcome;
    bz_status status = bz_band_matcher_check(&matcher, &KEYS[i], on_sighting, &sum, &outcome);
    if (status == BZ_STATUS_OK && outcome.result == BZ_BAND_RESULT_MATCHED && matched < COUNT(found)) {
      for (j = 0; j < 16; j++) {
        found[matched].key[j] = KEYS[i].key_data[j];
      }
      found[matched].sightings = sum.count;
      found[matched].checksum = sum.checksum;
      check(outcome.sightings == sum.count, name);
      matched++;
    }
    check(status == BZ_STATUS_OK, name);
  }
  start = ticks_since(start);
  *stack = stack_used(painted);
  check(bz_band_matcher_counts(&matcher, &c) == BZ_STATUS_OK, name);
  check(c.keys_total == expected->counts[0] && c.keys_matched == expected->counts[1] &&
            c.report_type_transitions == expected->counts[2],
        name);
  check(c.outside_tolerance == expected->counts[3] && c.replayed == expected->counts[4] &&
            c.tx_power_out_of_range == expected->counts[5] && c.report_type_keys == expected->counts[6] &&
            c.duplicate_keys == expected->counts[7] && c.invalid_transitions == expected->counts[8],
        name);
  check(matched == expected->n && matched > 0, name);
  for (i = 0; i < expected->n; i++) {
    const struct match *m = &expected->matches[i];
    int seen = 0;
    for (j = 0; j < matched; j++) {
      seen |= same(found[j].key, m->key, 16) && found[j].sightings == m->sightings && found[j].checksum == m->checksum;
    }
    check(seen, name);
  }
  /* The table holds the matched keys in the order they matched. */
  for (j = 0; j < matched; j++) {
    bz_stored_key_info info;
    check(bz_band_matcher_matched(&matcher, j, &info) == BZ_STATUS_OK && same(info.key_data, found[j].key, 16) &&
              info.report_type == 1 && info.transitions == 0,
          name);
  }
  {
    bz_stored_key_info info;
    check(bz_band_matcher_matched(&matcher, matched, &info) == BZ_STATUS_END, name);
  }
  return start;
}

/* Calls that must fail, and fail cleanly, with no allocator to fall back on. */
static void refusals(void) {
  bz_band_matcher matcher;
  bz_band_outcome outcome;
  bz_match_rules rules;
  bz_diagnosis_key key = KEYS[0];
  size_t i;
  for (i = 0; i < COUNT(matcher.opaque); i++) {
    matcher.opaque[i] = 0;
  }
  check(bz_band_matcher_check(&matcher, &key, NULL, NULL, &outcome) == BZ_STATUS_INVALID_STATE, "not set up");
  check(bz_match_rules_default(&rules) == BZ_STATUS_OK && rules.tolerance_intervals == 12 &&
            rules.replay_window_seconds == 1200 && rules.match_recursive == 0,
        "default rules");
  rules.match_revoked = 2;
  check(bz_band_matcher_init(&matcher, log_buffer, 0, table, COUNT(table), &rules) == BZ_STATUS_INVALID_ARGUMENT,
        "a flag that is neither 0 nor 1");
  check(bz_band_matcher_init(&matcher, NULL, 3, table, COUNT(table), NULL) == BZ_STATUS_NULL_POINTER, "NULL log");
  check(bz_band_matcher_init(&matcher, log_buffer, 0, table, 0, NULL) == BZ_STATUS_OK, "empty");
  key.report_type = 9;
  check(bz_band_matcher_check(&matcher, &key, NULL, NULL, &outcome) == BZ_STATUS_INVALID_ARGUMENT, "report type 9");
}

int main(void) {
  uint32_t calibration, sparse, full;
  size_t sparse_stack = 0, full_stack = 0;
  uint64_t keys = COUNT(KEYS);
  SYST_RVR = 0x00FFFFFFu;
  SYST_CVR = 0;
  SYST_CSR = 5u; /* enabled, core clock */
  calibration = SYST_CVR;
  delay_two_million();
  calibration = ticks_since(calibration);
  if (calibration == 0) {
    calibration = 1;
  }
  official();
  sparse = day("sparse day", SPARSE, COUNT(SPARSE), &SPARSE_EXPECTED, &sparse_stack);
  full = day("full day", FULL, COUNT(FULL), &FULL_EXPECTED, &full_stack);
  refusals();
  print_number(passed);
  semihosting_write(" passed, ");
  print_number(failed);
  semihosting_write(" failed\ninstructions per key: full day ");
  print_number((uint64_t)full * 2000000u / calibration / keys);
  semihosting_write(", sparse day ");
  print_number((uint64_t)sparse * 2000000u / calibration / keys);
  semihosting_write("\nmatcher stack: ");
  print_number(full_stack > sparse_stack ? full_stack : sparse_stack);
  semihosting_write(" bytes; matcher storage: ");
  print_number(sizeof(bz_band_matcher));
  semihosting_write(" bytes\n");
  return failed == 0 ? 0 : 1;
}
