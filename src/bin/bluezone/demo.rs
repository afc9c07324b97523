//! `bluezone demo`: a small town for a fortnight, end to end.
//!
//! People live in households, work in groups and meet strangers in shops and on transport.
//! Two thirds of the phones speak GAEN, the rest the Bluezone 2020 scheme; a phone only hears
//! phones of its own kind. Every sighting goes through the real encounter log; confirmed cases
//! publish a signed `export.zip` (GAEN) and an F0 list (Bluezone); every phone verifies,
//! matches and decides F1, and the result is compared with the simulation's ground truth.

#![allow(
    clippy::indexing_slicing,
    reason = "the simulation indexes only the people and days it created itself"
)]

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use bluezone::blid::f1::{self as blid_f1, F1Rule as BlidF1Rule, RssiThresholds};
use bluezone::blid::matching::ContactIndex;
use bluezone::blid::{BaseKey, BluezoneId, F0Entry, F0List, HistoryLine, SlotsPerDay, TimeUnit};
use bluezone::encounter::log::{EncounterLog, LogItem};
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::export::archive::{self, ExportArchive};
use bluezone::export::bin::{ExportMetadata, SignatureInfo};
use bluezone::export::sig;
use bluezone::export::verify::{self, ExportDigests, PublicKeyRegistry};
use bluezone::gaen::{Metadata, ReportType, RollingProximityIdentifier, TemporaryExposureKey};
use bluezone::matching::{LogIndex, MatchConfig, Matcher, stream};
use bluezone::risk::{RiskConfig, assess};
use bluezone::{EnIntervalNumber, RollingWindow};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};

/// The first simulated day: 2021-03-01.
const FIRST_DAY: u64 = 18_687;
const SCAN_SECONDS: u64 = 300;
const TX_POWER: i8 = -15;
/// "Planted": at least 25 minutes (15, plus two scan periods of duration uncertainty) this
/// close to one case in one day.
const PLANTED_METERS: f64 = 1.2;
const PLANTED_SECONDS: u64 = 25 * 60;
/// "No contact": less than 10 minutes (15, less one scan period) within this distance of all
/// cases together in every day. Between the two, a warning or its absence is explained by the
/// documented uncertainties (spec §risk.4.1): distance from attenuation, duration from scans.
const UNCERTAIN_METERS: f64 = 4.0;
const NO_CONTACT_SECONDS: u64 = 10 * 60;

/// The demo's options.
pub(crate) struct DemoArgs {
    pub people: usize,
    pub days: u64,
    pub seed: u64,
    pub out: Option<PathBuf>,
    pub json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gaen,
    Bluezone,
}

/// One encounter between two people.
struct Contact {
    a: usize,
    b: usize,
    start: u64,
    seconds: u64,
    meters: f64,
}

fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// Path loss of the simulated world: free space at 2.44 GHz, 9 dB of body loss, 2 dB noise.
fn attenuation(meters: f64, rng: &mut ChaCha20Rng) -> i16 {
    let noise = (0..4).map(|_| uniform(rng) - 0.5).sum::<f64>() * 2.0 * 1.7;
    (40.2 + 20.0 * meters.log10() + 9.0 + noise).round() as i16
}

/// The town's encounters over `days` days.
fn simulate(people: usize, days: u64, rng: &mut ChaCha20Rng) -> Vec<Contact> {
    let mut contacts = Vec::new();
    // Households of 1 to 5.
    let mut households: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    while next < people {
        let size = (1 + below(rng, 5)).min(people - next);
        households.push((next..next + size).collect());
        next += size;
    }
    // Workplaces and schools of 10 to 30, for about 80 % of people.
    let mut order: Vec<usize> = (0..people).filter(|_| uniform(rng) < 0.8).collect();
    for n in (1..order.len()).rev() {
        order.swap(n, below(rng, n + 1));
    }
    let workplaces: Vec<Vec<usize>> = order
        .chunks(10 + below(rng, 21))
        .map(<[usize]>::to_vec)
        .collect();
    for day in 0..days {
        let midnight = (FIRST_DAY + day) * 86_400;
        let weekday = (FIRST_DAY + day + 3) % 7 < 5;
        for house in &households {
            for (i, &a) in house.iter().enumerate() {
                for &b in house.get(i + 1..).unwrap_or_default() {
                    contacts.push(Contact {
                        a,
                        b,
                        start: midnight + 18 * 3600 + below(rng, 1800) as u64,
                        seconds: 3 * 3600 + below(rng, 3600) as u64,
                        meters: 0.6 + uniform(rng) * 0.6,
                    });
                }
            }
        }
        if weekday {
            for group in &workplaces {
                for (i, &a) in group.iter().enumerate() {
                    // Two desk neighbours, and one meeting a week with the next colleague.
                    for step in 1..=2 {
                        if let Some(&b) = group.get((i + step) % group.len()).filter(|&&b| b != a) {
                            contacts.push(Contact {
                                a,
                                b,
                                start: midnight + 9 * 3600,
                                seconds: 2 * 3600 + below(rng, 2 * 3600) as u64,
                                meters: 1.6 + uniform(rng) * 1.4,
                            });
                        }
                    }
                }
            }
        }
        // Shops and transport: two brief encounters a person a day.
        for a in 0..people {
            for _ in 0..2 {
                let b = below(rng, people);
                if b != a {
                    contacts.push(Contact {
                        a,
                        b,
                        start: midnight + 8 * 3600 + below(rng, 10 * 3600) as u64,
                        seconds: 300 + below(rng, 900) as u64,
                        meters: 1.0 + uniform(rng) * 4.0,
                    });
                }
            }
        }
    }
    contacts
}

/// What each phone broadcasts: GAEN keys per day, or a Bluezone base key; and, derived once,
/// what it advertises in every interval or slot.
struct Phone {
    kind: Kind,
    teks: Vec<TemporaryExposureKey>,
    base: BaseKey,
    /// Per day, per interval: (RPI, AEM) for GAEN phones, empty for Bluezone phones.
    advertised: Vec<
        Vec<(
            RollingProximityIdentifier,
            bluezone::gaen::AssociatedEncryptedMetadata,
        )>,
    >,
    /// Per day, per 15-minute slot: the identifier, for Bluezone phones.
    blids: Vec<Vec<BluezoneId>>,
}

impl Phone {
    fn new(kind: Kind, teks: Vec<TemporaryExposureKey>, base: BaseKey) -> Self {
        let mut phone = Self {
            kind,
            teks,
            base,
            advertised: Vec::new(),
            blids: Vec::new(),
        };
        match kind {
            Kind::Gaen => {
                phone.advertised = phone
                    .teks
                    .iter()
                    .map(|tek| {
                        let mut rpis = [RollingProximityIdentifier::default(); 144];
                        let rpis = tek
                            .rolling_proximity_identifier_key()
                            .window_identifiers(tek.window(), &mut rpis);
                        let aemk = tek.associated_encrypted_metadata_key();
                        rpis.iter()
                            .map(|rpi| (*rpi, aemk.encrypt(rpi, Metadata::v1_0(TX_POWER))))
                            .collect()
                    })
                    .collect();
            }
            Kind::Bluezone => {
                phone.blids = (0..phone.teks.len() as u32)
                    .map(|d| {
                        let mut ids = [BluezoneId::default(); 96];
                        phone
                            .base
                            .day_identifiers(FIRST_DAY as u32 + d, SlotsPerDay::DEFAULT, &mut ids)
                            .map(<[BluezoneId]>::to_vec)
                            .unwrap_or_default()
                    })
                    .collect();
            }
        }
        phone
    }

    fn gaen_rpi(
        &self,
        t: u64,
    ) -> (
        RollingProximityIdentifier,
        bluezone::gaen::AssociatedEncryptedMetadata,
    ) {
        let day = (t / 86_400).saturating_sub(FIRST_DAY) as usize;
        let interval = ((t % 86_400) / 600) as usize;
        self.advertised
            .get(day)
            .and_then(|d| d.get(interval))
            .copied()
            .unwrap_or_default()
    }

    fn blid(&self, t: u64) -> BluezoneId {
        let day = (t / 86_400).saturating_sub(FIRST_DAY) as usize;
        let slot = ((t % 86_400) / 900) as usize;
        self.blids
            .get(day)
            .and_then(|d| d.get(slot))
            .copied()
            .unwrap_or_default()
    }
}

/// Why a phone warned: its day of closest contact.
#[derive(serde::Serialize)]
struct Evidence {
    person: usize,
    protocol: &'static str,
    day: u64,
    close_minutes: u64,
    closest: String,
}

/// The verdict classes of the comparison with ground truth.
#[derive(Default, serde::Serialize)]
struct Tally {
    planted: usize,
    planted_found: usize,
    planted_missed: usize,
    planted_unobservable: usize,
    borderline: usize,
    borderline_warned: usize,
    no_contact: usize,
    false_warnings: usize,
}

#[allow(clippy::too_many_lines, reason = "one scenario told start to finish")]
pub(crate) fn run(out: &mut impl Write, args: &DemoArgs) -> Result<bool, String> {
    use std::io::IsTerminal;
    let show = std::io::stderr().is_terminal();
    let phase = |what: &str| {
        if show {
            eprintln!("bluezone demo: {what}");
        }
    };
    let started = Instant::now();
    phase("deriving every phone's keys and identifiers");
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);
    let (people, days) = (args.people.max(2), args.days.clamp(1, 14));
    let folder = args.out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("bluezone-demo-{}", std::process::id()))
    });
    std::fs::create_dir_all(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;

    // Phones and keys.
    let phones: Vec<Phone> = (0..people)
        .map(|_| {
            let kind = if uniform(&mut rng) < 2.0 / 3.0 {
                Kind::Gaen
            } else {
                Kind::Bluezone
            };
            let teks = (0..days)
                .map(|d| {
                    let window = RollingWindow::day_of(EnIntervalNumber::new(
                        ((FIRST_DAY + d) * 144) as u32,
                    ));
                    TemporaryExposureKey::generate_with_rng(&mut rng, window)
                })
                .collect();
            let base = BaseKey::generate_with_rng(&mut rng, FIRST_DAY as u32);
            Phone::new(kind, teks, base)
        })
        .collect();
    let positives: Vec<usize> = (0..people).filter(|_| uniform(&mut rng) < 0.02).collect();
    let is_positive: Vec<bool> = (0..people).map(|p| positives.contains(&p)).collect();

    phase("simulating encounters and writing the encounter logs");
    // Encounters and sightings, through each phone's encounter log.
    let contacts = simulate(people, days, &mut rng);
    let mut logs: Vec<Vec<Sighting>> = (0..people).map(|_| Vec::new()).collect();
    // Ground truth: seconds per (person, positive, day) within the two distances.
    let mut close: HashMap<(usize, usize, u64), (u64, u64)> = HashMap::new();
    for c in &contacts {
        for (scanner, advertiser) in [(c.a, c.b), (c.b, c.a)] {
            if is_positive[advertiser] && !is_positive[scanner] {
                let day = c.start / 86_400;
                let entry = close.entry((scanner, advertiser, day)).or_default();
                if c.meters <= PLANTED_METERS {
                    entry.0 += c.seconds;
                }
                if c.meters <= UNCERTAIN_METERS {
                    entry.1 += c.seconds;
                }
            }
            if phones[scanner].kind != phones[advertiser].kind {
                continue;
            }
            let phase = (scanner as u64 * 37) % SCAN_SECONDS;
            let mut t = c.start - c.start % SCAN_SECONDS + phase;
            while t < c.start + c.seconds {
                if t >= c.start {
                    let rssi = (i16::from(TX_POWER) - attenuation(c.meters, &mut rng))
                        .clamp(-127, 126) as i8;
                    logs[scanner].push(match phones[scanner].kind {
                        Kind::Gaen => {
                            let (rpi, aem) = phones[advertiser].gaen_rpi(t);
                            Sighting::Gaen(GaenSighting {
                                unix_seconds: t,
                                rpi,
                                aem,
                                rssi,
                                previous_scan_unix_seconds: t - SCAN_SECONDS,
                            })
                        }
                        Kind::Bluezone => Sighting::Bluezone(BluezoneSighting {
                            unix_ms: t * 1000,
                            contact_id: phones[advertiser].blid(t),
                            own_id: phones[scanner].blid(t),
                            rssi,
                        }),
                    });
                }
                t += SCAN_SECONDS;
            }
        }
    }
    let total_sightings: usize = logs.iter().map(Vec::len).sum();
    let logs_folder = folder.join("logs");
    for (person, sightings) in logs.iter_mut().enumerate() {
        sightings.sort_by_key(Sighting::unix_seconds);
        let mut log = EncounterLog::open(logs_folder.join(format!("phone-{person:05}")))
            .map_err(|e| e.to_string())?;
        log.append_all(sightings.iter())
            .map_err(|e| e.to_string())?;
    }
    let simulated = started.elapsed();

    phase("publishing the cases' keys");
    // Publication: a signed export.zip for GAEN cases, an F0 list for Bluezone cases.
    let signing = verify::p256::ecdsa::SigningKey::from_slice(&{
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        secret[0] |= 1;
        secret
    })
    .map_err(|e| format!("demo signing key: {e}"))?;
    let info = SignatureInfo {
        verification_key_version: Some("v1".into()),
        verification_key_id: Some("452".into()),
        signature_algorithm: Some(verify::ECDSA_WITH_SHA256.into()),
        ..SignatureInfo::default()
    };
    let keys: Vec<_> = positives
        .iter()
        .filter(|&&p| phones[p].kind == Kind::Gaen)
        .flat_map(|&p| {
            phones[p]
                .teks
                .iter()
                .map(|t| t.clone().release(ReportType::ConfirmedTest))
        })
        .collect();
    let metadata = ExportMetadata {
        start_timestamp: Some(FIRST_DAY * 86_400),
        end_timestamp: Some((FIRST_DAY + days) * 86_400),
        region: Some("452".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        signature_infos: vec![info.clone()],
    };
    let export_bin = bluezone::export::bin::build(&metadata, keys, 1000, &mut rng);
    let export_sig = sig::encode(&[verify::sign(&export_bin, &signing, info, 1, 1)]);
    let export_path = folder.join("export.zip");
    let file = std::fs::File::create(&export_path).map_err(|e| e.to_string())?;
    archive::write(
        std::io::BufWriter::new(file),
        &export_bin,
        Some(&export_sig),
    )
    .map_err(|e| e.to_string())?;
    let f0 = F0List {
        entries: positives
            .iter()
            .filter(|&&p| phones[p].kind == Kind::Bluezone)
            .flat_map(|&p| {
                let base = &phones[p].base;
                (0..days).filter_map(move |d| {
                    let day = (FIRST_DAY + d) as u32;
                    Some(F0Entry {
                        daily_key: base.daily_key(day).ok()?,
                        time_start: u64::from(day) * 86_400,
                        max: SlotsPerDay::DEFAULT,
                        time_end: u64::from(day) * 86_400 + 86_399,
                    })
                })
            })
            .collect(),
    };
    std::fs::write(folder.join("f0.json"), f0.to_json()).map_err(|e| e.to_string())?;

    phase("every phone verifies, matches and decides");
    // Every phone: download, verify, match, decide.
    let mut registry = PublicKeyRegistry::new();
    registry.add(Some("452"), Some("v1"), *signing.verifying_key());
    let matching_started = Instant::now();
    let now = (FIRST_DAY + days) * 86_400 - 1;
    let risk_config = RiskConfig::default();
    let match_config = MatchConfig::default();
    let blid_rule = BlidF1Rule {
        // The simulated phones all send at −15 dBm: −15 − 55 dB.
        thresholds: RssiThresholds {
            android_to_android: -70,
            android_to_ios: -70,
            ios_to_android: -70,
            ios_to_ios: -70,
        },
        ..BlidF1Rule::bluezone(TimeUnit::Milliseconds)
    };
    let mut warned = vec![false; people];
    let mut evidence: Vec<Evidence> = Vec::new();
    for person in 0..people {
        if is_positive[person] {
            continue;
        }
        let log = EncounterLog::open(logs_folder.join(format!("phone-{person:05}")))
            .map_err(|e| e.to_string())?;
        let mut gaen = Vec::new();
        let mut history = Vec::new();
        for item in log.read().map_err(|e| e.to_string())? {
            match item.map_err(|e| e.to_string())? {
                LogItem::Record(Sighting::Gaen(s)) => gaen.push(s),
                LogItem::Record(Sighting::Bluezone(s)) => history.push(HistoryLine {
                    own_id: s.own_id,
                    contact_id: s.contact_id,
                    rssi: s.rssi,
                    timestamp: s.unix_ms,
                }),
                LogItem::Damage { .. } => return Err("a freshly written log is damaged".into()),
            }
        }
        // Each engine's verdict, and its day of most close contact: (day, seconds, closest).
        let (f1, closest_day) = match phones[person].kind {
            Kind::Gaen => {
                let file = std::fs::File::open(&export_path).map_err(|e| e.to_string())?;
                let mut zip = ExportArchive::open(std::io::BufReader::new(file))
                    .map_err(|e| e.to_string())?;
                let (bin, sig_bytes) = zip.read_signed().map_err(|e| e.to_string())?;
                let signatures = sig::parse(&sig_bytes).map_err(|e| e.to_string())?;
                if !verify::verify(&ExportDigests::of(&bin), 1, &signatures, &registry).authentic {
                    return Err("the export does not verify".into());
                }
                let index = LogIndex::new(gaen, match_config.tolerance_intervals);
                let matcher = Matcher::new(&index, match_config);
                let outcome =
                    stream::match_bin(&matcher, &bin[..], 1, |_| {}).map_err(|e| e.to_string())?;
                let verdict = assess(&outcome, &risk_config, now).f1;
                let best = verdict
                    .days
                    .iter()
                    .max_by_key(|d| d.close_seconds)
                    .map(|d| {
                        (
                            d.unix_day,
                            d.close_seconds,
                            format!("{} dB attenuation", d.closest_attenuation_db),
                        )
                    });
                (verdict.f1, best)
            }
            Kind::Bluezone => {
                let matches = ContactIndex::new(&history).matches(&f0, TimeUnit::Milliseconds);
                let verdict = blid_f1::decide(&matches, TimeUnit::Milliseconds, &blid_rule, now);
                let best = verdict
                    .days
                    .iter()
                    .max_by_key(|d| d.close_seconds)
                    .map(|d| {
                        (
                            d.day,
                            d.close_seconds,
                            format!("{} dBm RSSI", d.strongest_rssi),
                        )
                    });
                (verdict.f1, best)
            }
        };
        warned[person] = f1;
        if let Some((day, seconds, closest)) = closest_day.filter(|_| f1) {
            evidence.push(Evidence {
                person,
                protocol: if phones[person].kind == Kind::Gaen {
                    "GAEN"
                } else {
                    "Bluezone"
                },
                day,
                close_minutes: seconds / 60,
                closest,
            });
        }
    }
    let matching = matching_started.elapsed();

    // Comparison with ground truth.
    let mut tally = Tally::default();
    for person in (0..people).filter(|&p| !is_positive[p]) {
        let per_case = close.iter().filter(|((s, _, _), _)| *s == person);
        let planted_by: Vec<usize> = per_case
            .clone()
            .filter(|(_, (near, _))| *near >= PLANTED_SECONDS)
            .map(|((_, c, _), _)| *c)
            .collect();
        let mut by_day: HashMap<u64, u64> = HashMap::new();
        for ((_, _, day), (_, within)) in per_case {
            *by_day.entry(*day).or_default() += within;
        }
        let uncertain = by_day.values().any(|s| *s >= NO_CONTACT_SECONDS);
        if !planted_by.is_empty() {
            tally.planted += 1;
            if warned[person] {
                tally.planted_found += 1;
            } else if planted_by
                .iter()
                .all(|&c| phones[c].kind != phones[person].kind)
            {
                tally.planted_unobservable += 1;
            } else {
                tally.planted_missed += 1;
            }
        } else if uncertain {
            tally.borderline += 1;
            tally.borderline_warned += usize::from(warned[person]);
        } else {
            tally.no_contact += 1;
            tally.false_warnings += usize::from(warned[person]);
        }
    }
    if args.out.is_none() {
        let _ = std::fs::remove_dir_all(&folder);
    }
    let ok = tally.planted_missed == 0 && tally.false_warnings == 0;
    if args.json {
        let document = serde_json::json!({
            "people": people,
            "days": days,
            "seed": args.seed,
            "gaen_phones": phones.iter().filter(|p| p.kind == Kind::Gaen).count(),
            "positives": positives.len(),
            "contacts": contacts.len(),
            "sightings": total_sightings,
            "warned": warned.iter().filter(|w| **w).count(),
            "warnings": evidence,
            "ground_truth": tally,
            "simulation_seconds": simulated.as_secs_f64(),
            "matching_seconds": matching.as_secs_f64(),
            "agrees_with_ground_truth": ok,
            "folder": args.out.as_ref().map(|p| p.display().to_string()),
        });
        writeln!(out, "{document}").map_err(|e| e.to_string())?;
        return Ok(ok);
    }
    let gaen_phones = phones.iter().filter(|p| p.kind == Kind::Gaen).count();
    let lines = [
        format!(
            "A town of {people} people for {days} days (seed {}): {gaen_phones} GAEN phones, {} Bluezone phones.",
            args.seed,
            people - gaen_phones
        ),
        format!(
            "{} encounters gave {total_sightings} sightings, written to {people} encounter logs in {simulated:.1?}.",
            contacts.len()
        ),
        format!(
            "{} people tested positive: their keys went into a signed export.zip ({} keys with padding), their Bluezone day keys into an F0 list of {} entries.",
            positives.len(),
            bluezone::export::bin::ExportBin::parse(&export_bin)
                .map(|p| p.key_count())
                .unwrap_or(0),
            f0.entries.len()
        ),
        format!(
            "Every phone verified, matched and decided in {matching:.1?}: {} warned (F1).",
            warned.iter().filter(|w| **w).count()
        ),
        String::new(),
        "Against the simulation's ground truth:".into(),
        format!(
            "  {} people spent {} minutes within {PLANTED_METERS} m of a case in one day: {} warned, {} missed, {} unobservable (their case used the other protocol).",
            tally.planted,
            PLANTED_SECONDS / 60,
            tally.planted_found,
            tally.planted_missed,
            tally.planted_unobservable
        ),
        format!(
            "  {} people were within {UNCERTAIN_METERS} m of cases for {} minutes or more in a day, but not planted: {} warned (explained by the uncertainty of distance from attenuation and of duration from scans, spec §risk.4.1).",
            tally.borderline,
            NO_CONTACT_SECONDS / 60,
            tally.borderline_warned
        ),
        format!(
            "  {} people had no such contact: {} false warnings.",
            tally.no_contact, tally.false_warnings
        ),
        (if ok {
            "The warnings agree with the ground truth."
        } else {
            "The warnings DISAGREE with the ground truth."
        })
        .to_string(),
    ];
    for (n, line) in lines.iter().enumerate() {
        writeln!(out, "{line}").map_err(|e| e.to_string())?;
        if n == 3 {
            for e in evidence.iter().take(10) {
                writeln!(
                    out,
                    "  person {:>5} ({}): {} min of close contact on {}, closest {}",
                    e.person,
                    e.protocol,
                    e.close_minutes,
                    super::utc_date(e.day),
                    e.closest
                )
                .map_err(|e| e.to_string())?;
            }
            if evidence.len() > 10 {
                writeln!(
                    out,
                    "  … and {} more (all of them with --json)",
                    evidence.len() - 10
                )
                .map_err(|e| e.to_string())?;
            }
        }
    }
    if let Some(path) = &args.out {
        writeln!(
            out,
            "Files kept in {}: logs/, export.zip, f0.json.",
            path.display()
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(ok)
}
