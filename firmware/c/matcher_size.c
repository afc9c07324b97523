/* The band matcher alone, for its size: a log and a key the compiler cannot see through
 * (volatile), matched over and over, so that everything the matcher needs is linked and
 * nothing else. firmware/run.sh measures it with arm-none-eabi-size, as the Rust firmware's
 * matcher-size. */
#include <stddef.h>
#include <stdint.h>

#include "bluezone.h"

static volatile uint8_t seed = 1;

static void on_sighting(void *context, const bz_matched_sighting *s) { *(volatile uint8_t *)context = s->attenuation; }

int main(void) {
  static bz_gaen_sighting log[8];
  static bz_stored_key table[8];
  bz_band_matcher matcher;
  bz_diagnosis_key key;
  bz_band_outcome outcome;
  volatile uint8_t sink = 0;
  size_t i;
  for (i = 0; i < sizeof log / sizeof log[0]; i++) {
    log[i].unix_seconds = 1614556800u + seed;
    log[i].rssi = (int8_t)-60;
    log[i].rpi[0] = seed;
  }
  for (i = 0; i < 16; i++) {
    key.key_data[i] = seed;
  }
  key.rolling_start_interval_number = 2690928u;
  key.rolling_period = 144;
  key.transmission_risk_level = 0;
  key.report_type = 1;
  key.has_days_since_onset_of_symptoms = 0;
  key.days_since_onset_of_symptoms = 0;
  if (bz_band_matcher_init(&matcher, log, 8, table, 8, NULL) != BZ_STATUS_OK) {
    return 1;
  }
  for (;;) {
    key.key_data[0] = seed;
    (void)bz_band_matcher_check(&matcher, &key, on_sighting, (void *)&sink, &outcome);
  }
}
