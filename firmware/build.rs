//! Writes the firmware's test data: Google's official vectors from `test-vectors/`, and two
//! wristband days with the outcome the library's main matcher (`MatchRun`) gives them, so the
//! firmware can hold its no-allocator matcher to it. The same data goes to `data.rs` for the
//! Rust firmware and `data.h` for the C one (`c/`). Also puts `memory.x` on the link path.

use std::fmt::Write as _;
use std::path::PathBuf;

use bluezone::encounter::GaenSighting;
use bluezone::gaen::{DiagnosisKey, Metadata, ReportType, TemporaryExposureKey};
use bluezone::matching::{LogIndex, MatchConfig, Matcher};
use bluezone::{EnIntervalNumber, RollingWindow};

/// A reproducible generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        for b in &mut out {
            *b = self.next() as u8;
        }
        out
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("[");
    for b in bytes {
        let _ = write!(s, "0x{b:02x},");
    }
    s.push(']');
    s
}

/// Bytes as a C initializer.
fn c_bytes(bytes: &[u8]) -> String {
    let mut s = String::from("{");
    for b in bytes {
        let _ = write!(s, "0x{b:02x},");
    }
    s.push('}');
    s
}

fn from_hex<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

/// The day the wristband scenarios are on: 2021-03-01.
const DAY: u32 = 18_687;

/// A wristband's day: `per_interval` foreign identifiers heard in each interval from `hours`
/// (start, end), and the planted keys' identifiers heard as given.
fn day_log(
    rng: &mut Rng,
    planted: &[(TemporaryExposureKey, u32, u32, i8)],
    noise: &[(u32, u32, usize)],
) -> Vec<GaenSighting> {
    let mut log = Vec::new();
    let day_start = u64::from(DAY) * 86_400;
    for &(ref tek, from, to, rssi) in planted {
        let rpik = tek.rolling_proximity_identifier_key();
        let aemk = tek.associated_encrypted_metadata_key();
        for interval in from..to {
            let j = DAY * 144 + interval;
            let rpi = rpik.identifier(EnIntervalNumber::new(j));
            let aem = aemk.encrypt(&rpi, Metadata::v1_0(-15));
            for scan in 0..2u64 {
                let t = u64::from(j) * 600 + 60 + scan * 300;
                log.push(GaenSighting {
                    unix_seconds: t,
                    rpi,
                    aem,
                    rssi: rssi - (rng.next() % 5) as i8,
                    previous_scan_unix_seconds: t - 300,
                });
            }
        }
    }
    for &(from, to, per_interval) in noise {
        for interval in from..to {
            for _ in 0..per_interval {
                let t = day_start + u64::from(interval) * 600 + rng.next() % 600;
                log.push(GaenSighting {
                    unix_seconds: t,
                    rpi: bluezone::gaen::RollingProximityIdentifier::from_bytes(rng.bytes()),
                    aem: bluezone::gaen::AssociatedEncryptedMetadata::from_bytes(rng.bytes()),
                    rssi: -60 - (rng.next() % 30) as i8,
                    previous_scan_unix_seconds: t.saturating_sub(300),
                });
            }
        }
    }
    log
}

fn sightings_rs(name: &str, log: &[GaenSighting]) -> String {
    let mut s = format!("static {name}: [Sighting; {}] = [\n", log.len());
    for g in log {
        let _ = writeln!(
            s,
            "  ({}, {}, {}, {}, {}),",
            g.unix_seconds,
            hex(g.rpi.as_bytes()),
            hex(g.aem.as_bytes()),
            g.rssi,
            g.previous_scan_unix_seconds
        );
    }
    s.push_str("];\n");
    s
}

fn sightings_h(name: &str, log: &[GaenSighting]) -> String {
    let mut s = format!("static const bz_gaen_sighting {name}[{}] = {{\n", log.len());
    for g in log {
        let _ = writeln!(
            s,
            "  {{{}ULL, {}, {}, {}, {}ULL}},",
            g.unix_seconds,
            c_bytes(g.rpi.as_bytes()),
            c_bytes(g.aem.as_bytes()),
            g.rssi,
            g.previous_scan_unix_seconds
        );
    }
    s.push_str("};\n");
    s
}

/// What the main matcher gives a day: its counts and, per matched key, the key's bytes, its
/// sighting count and a checksum of its sightings.
struct Outcome {
    counts: [u64; 9],
    matches: Vec<([u8; 16], usize, u64)>,
}

/// What the main matcher makes of `keys` against `log`.
fn outcome(keys: &[DiagnosisKey], log: &[GaenSighting]) -> Outcome {
    let index = LogIndex::new(log.to_vec(), 12);
    let outcome = Matcher::new(&index, MatchConfig::default()).match_keys(keys);
    let r = &outcome.rejected;
    let counts = [
        outcome.keys_total,
        outcome.keys_matched,
        outcome.report_type_transitions,
        r.outside_tolerance,
        r.replayed,
        r.tx_power_out_of_range,
        r.report_type_keys,
        r.duplicate_keys,
        r.invalid_transitions,
    ];
    let matches = outcome
        .matches
        .iter()
        .map(|m| {
            let checksum: u64 = m
                .sightings
                .iter()
                .map(|x| {
                    x.unix_seconds
                        + u64::from(x.attenuation)
                        + u64::from(x.en_interval_number.get())
                })
                .sum();
            (m.key.key_data, m.sightings.len(), checksum)
        })
        .collect();
    Outcome { counts, matches }
}

fn expected_h(name: &str, outcome: &Outcome) -> String {
    let mut s = format!(
        "static const struct match {name}_MATCHES[{}] = {{\n",
        outcome.matches.len()
    );
    for (key, sightings, checksum) in &outcome.matches {
        let _ = writeln!(s, "  {{{}, {sightings}, {checksum}ULL}},", c_bytes(key));
    }
    let counts: Vec<String> = outcome.counts.iter().map(|c| format!("{c}ULL")).collect();
    let _ = writeln!(
        s,
        "}};\nstatic const struct expected {name} = {{{{{}}}, {name}_MATCHES, {}}};",
        counts.join(", "),
        outcome.matches.len()
    );
    s
}

/// The Rust firmware's form of an [`Outcome`].
fn expected_rs(name: &str, outcome: &Outcome) -> String {
    let c = &outcome.counts;
    let mut s = format!(
        "static {name}: Expected = Expected {{ keys_total: {}, keys_matched: {}, transitions: {}, rejected: [{}, {}, {}, {}, {}, {}], matches: &[\n",
        c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]
    );
    for (key, sightings, checksum) in &outcome.matches {
        let _ = writeln!(s, "  ({}, {sightings}, {checksum}),", hex(key));
    }
    s.push_str("] };\n");
    s
}

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::copy("memory.x", out.join("memory.x")).expect("memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=memory.x");
    println!("cargo:rerun-if-changed=build.rs");
    let vectors = "../test-vectors/gaen-official-v1.2.json";
    println!("cargo:rerun-if-changed={vectors}");

    let mut rs = String::new();
    let mut h = String::from(
        "/* The C firmware's test data, written by firmware/build.rs: do not edit. */\n",
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(vectors).expect("vectors")).expect("json");
    let official = json["vectors"].as_array().expect("vectors");
    let _ = writeln!(rs, "static OFFICIAL: [Official; {}] = [", official.len());
    for v in official {
        let field = |k: &str| v[k].as_str().expect(k).to_string();
        let _ = writeln!(
            rs,
            "  Official {{ tek: {}, start: {}, interval: {}, rpi: {}, metadata: {}, aem: {}, advertisement: {} }},",
            hex(&from_hex::<16>(&field("tek"))),
            v["rolling_start_interval_number"],
            v["en_interval_number"],
            hex(&from_hex::<16>(&field("rpi"))),
            hex(&from_hex::<4>(&field("metadata"))),
            hex(&from_hex::<4>(&field("aem"))),
            hex(&from_hex::<31>(&field("advertisement")))
        );
    }
    rs.push_str("];\n");
    let _ = writeln!(
        h,
        "static const struct official OFFICIAL[{}] = {{",
        official.len()
    );
    for v in official {
        let field = |k: &str| v[k].as_str().expect(k).to_string();
        let _ = writeln!(
            h,
            "  {{{}, {}, {}, {}, {}, {}, {}}},",
            c_bytes(&from_hex::<16>(&field("tek"))),
            v["rolling_start_interval_number"],
            v["en_interval_number"],
            c_bytes(&from_hex::<16>(&field("rpi"))),
            c_bytes(&from_hex::<4>(&field("metadata"))),
            c_bytes(&from_hex::<4>(&field("aem"))),
            c_bytes(&from_hex::<31>(&field("advertisement")))
        );
    }
    h.push_str("};\n");

    // Sixty keys streamed in: three the wristband met, the rest strangers.
    let mut rng = Rng(0xB1E5_0001);
    let window = RollingWindow::day_of(EnIntervalNumber::new(DAY * 144));
    let teks: Vec<TemporaryExposureKey> = (0..60)
        .map(|_| TemporaryExposureKey::from_bytes(rng.bytes(), window))
        .collect();
    let keys: Vec<DiagnosisKey> = teks
        .iter()
        .map(|t| t.clone().release(ReportType::ConfirmedTest))
        .collect();
    let _ = writeln!(rs, "static KEYS: [Key; {}] = [", keys.len());
    for k in &keys {
        let _ = writeln!(
            rs,
            "  ({}, {}, {}, {}),",
            hex(&k.key_data),
            k.window.start().get(),
            k.window.period().get(),
            k.transmission_risk_level
        );
    }
    rs.push_str("];\n");
    let _ = writeln!(h, "static const bz_diagnosis_key KEYS[{}] = {{", keys.len());
    for k in &keys {
        let _ = writeln!(
            h,
            "  {{{}, {}, {}, {}, {}, 0, 0}},",
            c_bytes(&k.key_data),
            k.window.start().get(),
            k.window.period().get(),
            k.transmission_risk_level,
            k.report_type as u8
        );
    }
    h.push_str("};\n");
    let met = |i: usize, from, to, rssi| (teks[i].clone(), from, to, rssi);
    // A sparse day: a few dozen sightings (two contacts of a few minutes, some strangers).
    let sparse = day_log(
        &mut rng,
        &[met(7, 50, 53, -55), met(31, 70, 72, -65)],
        &[(48, 56, 2), (90, 92, 3)],
    );
    // A full day: sightings in every interval, with longer contacts.
    let full = day_log(
        &mut rng,
        &[
            met(7, 50, 60, -55),
            met(31, 70, 90, -65),
            met(44, 100, 103, -80),
        ],
        &[(0, 144, 4)],
    );
    let (sparse_outcome, full_outcome) = (outcome(&keys, &sparse), outcome(&keys, &full));
    rs.push_str(&sightings_rs("SPARSE", &sparse));
    rs.push_str(&sightings_rs("FULL", &full));
    rs.push_str(&expected_rs("SPARSE_EXPECTED", &sparse_outcome));
    rs.push_str(&expected_rs("FULL_EXPECTED", &full_outcome));
    std::fs::write(out.join("data.rs"), rs).expect("data.rs");
    h.push_str(&sightings_h("SPARSE", &sparse));
    h.push_str(&sightings_h("FULL", &full));
    h.push_str(&expected_h("SPARSE_EXPECTED", &sparse_outcome));
    h.push_str(&expected_h("FULL_EXPECTED", &full_outcome));
    std::fs::write(out.join("data.h"), h).expect("data.h");
}
