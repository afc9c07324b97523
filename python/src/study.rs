//! The adoption study's phones (`bluezone.study`, spec §study): the encounters Covasim's
//! contacts become, each phone's keys, and the daily check of what the diagnosed published,
//! with the library's own key schedule, key table, matcher and F1 rule.
//!
//! Memory grows with encounters, not with sightings: an encounter is kept as 16 bytes, and
//! the sightings a phone logged during it are made again, identically, when a check needs
//! them (spec §study.3).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bluezone::encounter::GaenSighting;
use bluezone::gaen::{
    AssociatedEncryptedMetadata, DiagnosisKey, Metadata, ReportType, RollingProximityIdentifier,
    TemporaryExposureKey,
};
use bluezone::matching::{KeyTable, LogIndex, MatchConfig, MatchRun, Matcher};
use bluezone::risk::{RiskConfig, assess};
use bluezone::{EnIntervalNumber, RollingWindow};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{Rng, SeedableRng};
use sha2::{Digest, Sha256};

/// Seconds between two scans of a phone (Google's engine scans about every 5 minutes,
/// spec §study.2).
const SCAN_SECONDS: u64 = 300;
/// The TX power every phone advertises, dBm. Only attenuation reaches the rule, so its value
/// does not matter; the radio model gives attenuation directly (spec §study.2).
const TX_POWER: i8 = -15;
/// Days of encounters a phone keeps: the look-back of a published key (spec §risk.4).
const RETENTION_DAYS: u32 = 14;
/// An encounter is close in the ground truth when it lasts at least 15 minutes within 2 m
/// (spec §study.5).
const CLOSE_CENTIMETRES: u16 = 200;
const CLOSE_SECONDS: u32 = 15 * 60;

/// A sighting as Python receives it: `(unix_seconds, rpi, aem, rssi, previous_scan)`.
type LogRow = (u64, Vec<u8>, Vec<u8>, i8, u64);

/// One direction of one encounter: the receiver's phone heard the sender's from `start` (s
/// after midnight UTC) for `seconds`, at `centimetres`.
#[derive(Clone, Copy, Debug)]
struct Encounter {
    sender: u32,
    receiver: u32,
    start: u32,
    seconds: u16,
    centimetres: u16,
}

/// The radio: attenuation in dB = `at_1m_db + per_decade_db · log10(d / 1 m)`, plus noise
/// with standard deviation `spread_db` (spec §study.2).
#[derive(Clone, Copy, Debug)]
struct PathLoss {
    at_1m_db: f64,
    per_decade_db: f64,
    spread_db: f64,
}

/// The phones of one simulated region: who met whom, and the keys of each.
#[pyclass(module = "bluezone._bluezone")]
#[derive(Debug)]
pub struct StudyPhones {
    seed: u64,
    people: u32,
    first_unix_day: u32,
    path_loss: PathLoss,
    days: BTreeMap<u32, Vec<Encounter>>,
    /// Days recorded since their encounters were last sorted.
    unsorted: BTreeSet<u32>,
}

/// What one daily check found (spec §study.4).
#[pyclass(module = "bluezone._bluezone", get_all)]
#[derive(Debug)]
pub struct CheckResult {
    /// The phones whose F1 verdict warned, in increasing order.
    pub warned: Vec<u32>,
    /// Keys published by this check's uploaders.
    pub published_keys: u64,
    /// (phone, key) matches over all phones that checked.
    pub matched_keys: u64,
    /// Sightings made again for the phones that met an uploader.
    pub sightings: u64,
    /// Phones that met an uploader while both phones ran, so had something to match.
    pub phones_checked: u64,
    /// Close encounters (spec §study.5) with an uploader that both phones heard.
    pub observable_close: u64,
    /// Of those, the encounters whose phone was warned.
    pub warned_close: u64,
}

/// An array of little-endian `u32` (numpy's `astype("<u4").tobytes()`).
fn values(what: &str, bytes: &[u8]) -> PyResult<Vec<u32>> {
    if !bytes.len().is_multiple_of(4) {
        return Err(PyValueError::new_err(format!(
            "{what}: {} bytes are not whole 32-bit numbers",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect())
}

impl StudyPhones {
    /// The key `person` used on simulated day `day` (spec §study.3: from the seed alone).
    fn key_data(&self, person: u32, day: u32) -> [u8; 16] {
        let digest = Sha256::new()
            .chain_update(b"bluezone.study TEK")
            .chain_update(self.seed.to_le_bytes())
            .chain_update(person.to_le_bytes())
            .chain_update(day.to_le_bytes())
            .finalize();
        let mut key = [0u8; 16];
        for (k, d) in key.iter_mut().zip(digest.iter()) {
            *k = *d;
        }
        key
    }

    fn window(&self, day: u32) -> RollingWindow {
        RollingWindow::day_of(EnIntervalNumber::new((self.first_unix_day + day) * 144))
    }

    fn sort(&mut self) {
        for day in std::mem::take(&mut self.unsorted) {
            if let Some(encounters) = self.days.get_mut(&day) {
                encounters.sort_unstable_by_key(|e| (e.sender, e.receiver, e.start));
            }
        }
    }

    /// The sightings `e` left in the receiver's log on `day`, each scan's attenuation drawn
    /// from the radio model with noise seeded by the encounter (spec §study.2).
    fn sightings(
        &self,
        day: u32,
        e: &Encounter,
        advertised: &[(RollingProximityIdentifier, AssociatedEncryptedMetadata); 144],
        out: &mut Vec<GaenSighting>,
    ) {
        // The noise's seed: the study's seed, the day and the encounter, each little-endian.
        let mut seed = [0u8; 32];
        let fields = self.seed.to_le_bytes().into_iter().chain(
            [day, e.sender, e.receiver, e.start]
                .into_iter()
                .flat_map(u32::to_le_bytes),
        );
        for (s, f) in seed.iter_mut().zip(fields) {
            *s = f;
        }
        let mut rng = ChaCha8Rng::from_seed(seed);
        let midnight = u64::from(self.first_unix_day + day) * 86_400;
        let start = midnight + u64::from(e.start);
        let end = start + u64::from(e.seconds);
        // Each phone scans at its own phase within the five minutes.
        let phase = u64::from(e.receiver) * 37 % SCAN_SECONDS;
        let mut t = start - start % SCAN_SECONDS + phase;
        if t < start {
            t += SCAN_SECONDS;
        }
        let metres = (f64::from(e.centimetres) / 100.0).max(0.1);
        let mean = self.path_loss.at_1m_db + self.path_loss.per_decade_db * metres.log10();
        while t < end && t < midnight + 86_400 {
            let attenuation = mean + self.path_loss.spread_db * normal(&mut rng);
            let rssi = (f64::from(TX_POWER) - attenuation)
                .round()
                .clamp(-127.0, 126.0) as i8;
            let slot = ((t - midnight) / 600) as usize;
            let (rpi, aem) = advertised.get(slot).copied().unwrap_or_default();
            out.push(GaenSighting {
                unix_seconds: t,
                rpi,
                aem,
                rssi,
                previous_scan_unix_seconds: t - SCAN_SECONDS,
            });
            t += SCAN_SECONDS;
        }
    }

    /// The 144 payloads `person` advertised on `day`, from the key as its own phone derives
    /// them.
    fn advertised(
        &self,
        person: u32,
        day: u32,
    ) -> Box<[(RollingProximityIdentifier, AssociatedEncryptedMetadata); 144]> {
        let tek = TemporaryExposureKey::from_bytes(self.key_data(person, day), self.window(day));
        let rpik = tek.rolling_proximity_identifier_key();
        let aemk = tek.associated_encrypted_metadata_key();
        let mut rpis = [RollingProximityIdentifier::default(); 144];
        let rpis = rpik.window_identifiers(self.window(day), &mut rpis);
        let mut out = Box::new([Default::default(); 144]);
        for (slot, rpi) in out.iter_mut().zip(rpis) {
            *slot = (*rpi, aemk.encrypt(rpi, Metadata::v1_0(TX_POWER)));
        }
        out
    }
}

/// A standard normal draw (Box–Muller over two uniforms in (0, 1]).
fn normal(rng: &mut ChaCha8Rng) -> f64 {
    let uniform =
        |rng: &mut ChaCha8Rng| ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let (u, v) = (uniform(rng), uniform(rng));
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

#[pymethods]
impl StudyPhones {
    /// Phones for `people` people; simulated day 0 is UTC day `first_unix_day`.
    #[new]
    fn new(
        seed: u64,
        people: u32,
        first_unix_day: u32,
        at_1m_db: f64,
        per_decade_db: f64,
        spread_db: f64,
    ) -> PyResult<Self> {
        if !(at_1m_db.is_finite() && per_decade_db.is_finite() && spread_db >= 0.0) {
            return Err(PyValueError::new_err(
                "the radio model's numbers must be finite, the spread at least 0",
            ));
        }
        if u64::from(first_unix_day + 400) * 144 > u64::from(u32::MAX) {
            return Err(PyValueError::new_err(
                "first_unix_day is beyond the interval numbers",
            ));
        }
        Ok(Self {
            seed,
            people,
            first_unix_day,
            path_loss: PathLoss {
                at_1m_db,
                per_decade_db,
                spread_db,
            },
            days: BTreeMap::new(),
            unsorted: BTreeSet::new(),
        })
    }

    /// Records the day's encounters between running phones, each argument an array of
    /// little-endian `u32`: pair `i` is `a[i]` and `b[i]`,
    /// from `start[i]` seconds after midnight for `seconds[i]`, `centimetres[i]` apart. Both
    /// phones hear each other. Days before the last 14 are dropped. Returns the encounters
    /// kept in all.
    fn record(
        &mut self,
        day: u32,
        a: &[u8],
        b: &[u8],
        start: &[u8],
        seconds: &[u8],
        centimetres: &[u8],
    ) -> PyResult<usize> {
        let (a, b) = (values("a", a)?, values("b", b)?);
        let (start, seconds, centimetres) = (
            values("start", start)?,
            values("seconds", seconds)?,
            values("centimetres", centimetres)?,
        );
        let n = a.len();
        if [b.len(), start.len(), seconds.len(), centimetres.len()] != [n; 4] {
            return Err(PyValueError::new_err(
                "the five arrays must have one length",
            ));
        }
        if day >= 400 {
            return Err(PyValueError::new_err("a study lasts at most 400 days"));
        }
        // Every pair is checked before any is kept, so a refusal records nothing.
        let mut new = Vec::with_capacity(2 * n);
        let pairs = a.iter().zip(&b).zip(&start).zip(&seconds).zip(&centimetres);
        for (i, ((((&x, &y), &start), &seconds), &centimetres)) in pairs.enumerate() {
            if x >= self.people || y >= self.people || x == y {
                return Err(PyValueError::new_err(format!(
                    "pair {i}: ({x}, {y}) is not two people of {}",
                    self.people
                )));
            }
            if start >= 86_400 {
                return Err(PyValueError::new_err(format!(
                    "pair {i}: start {start} is not within the day"
                )));
            }
            let seconds = seconds.min(86_400 - start).min(u32::from(u16::MAX)) as u16;
            let centimetres = centimetres.min(u32::from(u16::MAX)) as u16;
            for (sender, receiver) in [(x, y), (y, x)] {
                new.push(Encounter {
                    sender,
                    receiver,
                    start,
                    seconds,
                    centimetres,
                });
            }
        }
        self.days.entry(day).or_default().append(&mut new);
        self.unsorted.insert(day);
        let oldest = day.saturating_sub(RETENTION_DAYS - 1);
        self.days.retain(|&d, _| d >= oldest);
        Ok(self.days.values().map(Vec::len).sum())
    }

    /// The key `person` used on `day`, as 16 bytes (for checks from outside).
    fn tek<'py>(&self, py: Python<'py>, person: u32, day: u32) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.key_data(person, day))
    }

    /// Every sighting `person`'s phone logged on `day`, as rows `(unix_seconds, rpi, aem,
    /// rssi, previous_scan_unix_seconds)` in time order: the whole log of the day, for checks
    /// from outside.
    fn log(&mut self, person: u32, day: u32) -> Vec<LogRow> {
        self.sort();
        let mut out = Vec::new();
        if let Some(encounters) = self.days.get(&day) {
            let mut cache: HashMap<u32, Box<_>> = HashMap::new();
            for e in encounters.iter().filter(|e| e.receiver == person) {
                let advertised = cache
                    .entry(e.sender)
                    .or_insert_with(|| self.advertised(e.sender, day));
                self.sightings(day, e, advertised, &mut out);
            }
        }
        out.sort_by_key(|s| s.unix_seconds);
        out.into_iter()
            .map(|s| {
                (
                    s.unix_seconds,
                    s.rpi.to_bytes().to_vec(),
                    s.aem.to_bytes().to_vec(),
                    s.rssi,
                    s.previous_scan_unix_seconds,
                )
            })
            .collect()
    }

    /// The daily check at the end of `day`: `uploaders` publish the keys of the 14 days before
    /// (confirmed test), derived once into a key table; every phone that heard one of them
    /// matches its log against the table with the production matcher and applies the F1 rule
    /// (spec §study.4).
    fn check(&mut self, day: u32, uploaders: &[u8]) -> PyResult<CheckResult> {
        let mut uploaders = values("uploaders", uploaders)?;
        uploaders.sort_unstable();
        uploaders.dedup();
        if let Some(&u) = uploaders.iter().find(|&&u| u >= self.people) {
            return Err(PyValueError::new_err(format!(
                "uploader {u} is not one of {} people",
                self.people
            )));
        }
        self.sort();
        let key_days: Vec<u32> = (day.saturating_sub(RETENTION_DAYS)..day).collect();
        let keys: Vec<DiagnosisKey> = uploaders
            .iter()
            .flat_map(|&u| key_days.iter().map(move |&d| (u, d)))
            .map(|(u, d)| DiagnosisKey {
                report_type: ReportType::ConfirmedTest,
                ..DiagnosisKey::new(self.key_data(u, d), self.window(d))
            })
            .collect();
        let published_keys = keys.len() as u64;
        let table = KeyTable::new(keys);

        // Who heard an uploader, and on which day, grouped by the phone that heard.
        let mut heard: Vec<(u32, u32, Encounter)> = Vec::new();
        for &d in &key_days {
            let Some(encounters) = self.days.get(&d) else {
                continue;
            };
            for &u in &uploaders {
                let first = encounters.partition_point(|e| e.sender < u);
                let from_u = encounters.get(first..).unwrap_or_default();
                heard.extend(
                    from_u
                        .iter()
                        .take_while(|e| e.sender == u)
                        .map(|e| (e.receiver, d, *e)),
                );
            }
        }
        heard.sort_unstable_by_key(|&(receiver, d, e)| (receiver, e.sender, d, e.start));

        let risk = RiskConfig::default();
        let config = risk.match_config(MatchConfig::default());
        let now = u64::from(self.first_unix_day + day) * 86_400 + 86_399;
        let mut result = CheckResult {
            warned: Vec::new(),
            published_keys,
            matched_keys: 0,
            sightings: 0,
            phones_checked: 0,
            observable_close: 0,
            warned_close: 0,
        };
        let mut advertised: HashMap<(u32, u32), Box<_>> = HashMap::new();
        for phone in heard.chunk_by(|x, y| x.0 == y.0) {
            let mut log = Vec::new();
            let mut close = 0u64;
            for &(_, d, e) in phone {
                let payloads = advertised
                    .entry((e.sender, d))
                    .or_insert_with(|| self.advertised(e.sender, d));
                self.sightings(d, &e, payloads, &mut log);
                close += u64::from(
                    e.centimetres <= CLOSE_CENTIMETRES && u32::from(e.seconds) >= CLOSE_SECONDS,
                );
            }
            result.sightings += log.len() as u64;
            result.phones_checked += 1;
            result.observable_close += close;
            let index = LogIndex::new(log, config.tolerance_intervals);
            let matcher = Matcher::new(&index, config);
            let mut run = MatchRun::new(&matcher);
            run.add_table(&table);
            let outcome = run.finish();
            result.matched_keys += outcome.matches.len() as u64;
            if let Some(&(receiver, _, _)) = phone.first()
                && assess(&outcome, &risk, now).f1.f1
            {
                result.warned.push(receiver);
                result.warned_close += close;
            }
        }
        Ok(result)
    }
}
