//! The health authority of the demo: its signing key, and what it publishes at each
//! adoption level (a signed export for the GAEN cases, an F0 list for the Bluezone ones), read
//! back as every phone reads it.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use bluezone::blid::matching::F0Table;
use bluezone::blid::{F0Entry, F0List, SlotsPerDay, TimeUnit};
use bluezone::export::ExportFile;
use bluezone::export::bin::ExportMetadata;
use bluezone::export::verify::PublicKeyRegistry;
use bluezone::export::verify::p256::ecdsa::SigningKey;
use bluezone::export::verify::p256::pkcs8::{EncodePublicKey, LineEnding};
use bluezone::export::{Signer, write_signed};
use bluezone::gaen::ReportType;
use bluezone::matching::KeyTable;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;

use super::people::{Kind, Person};
use super::town::FIRST_DAY;
use crate::error::{CliError, Context};
use crate::files::write_atomically;

/// The region and key names of the demo's health authority.
pub const KEY_ID: &str = "452";
pub const KEY_VERSION: &str = "v1";

/// The health authority: its signing key, and the key every phone trusts.
pub struct Authority {
    signing: SigningKey,
    pub registry: PublicKeyRegistry,
}

impl Authority {
    pub fn new(rng: &mut ChaCha20Rng) -> Result<Self, CliError> {
        let signing = SigningKey::from_slice(&{
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            secret[0] |= 1;
            secret
        })
        .in_environment("the demo's signing key")?;
        let mut registry = PublicKeyRegistry::new();
        registry.add(Some(KEY_ID), Some(KEY_VERSION), *signing.verifying_key());
        Ok(Self { signing, registry })
    }
}

/// What the health authority published at one level, as every phone reads it.
pub struct Publication {
    /// The export's keys, verified once and derived once (every phone would verify the same
    /// file; spec §demo.4).
    pub table: KeyTable,
    /// Keys in the export, padding included.
    pub export_keys: u64,
    /// The F0 list's identifiers for the simulated days.
    pub f0: F0Table,
    pub f0_entries: usize,
    /// Whose each published TEK is, and whose each F0 entry.
    pub tek_owner: HashMap<[u8; 16], u32>,
    pub f0_owner: Vec<u32>,
    /// Cases that run the app (and so published).
    pub cases_with_app: usize,
}

/// The cases' keys at `level`: a signed `export.zip` for the GAEN cases that run the app
/// (padded to 1000 keys, as the reference server does), an F0 list for the Bluezone ones.
/// Both are written to `folder` and read back as a phone reads them.
pub fn publish(
    people: &[Person],
    level: f64,
    days: u64,
    folder: &Path,
    authority: &Authority,
    rng: &mut ChaCha20Rng,
) -> Result<Publication, CliError> {
    let cases = || {
        (0u32..)
            .zip(people)
            .filter(|(_, p)| p.positive && p.has_app(level))
    };
    let mut tek_owner = HashMap::new();
    let keys: Vec<_> = cases()
        .filter(|(_, p)| p.kind == Kind::Gaen)
        .flat_map(|(id, p)| {
            p.teks
                .iter()
                .map(move |t| (id, t.clone().release(ReportType::ConfirmedTest)))
        })
        .map(|(id, key)| {
            tek_owner.insert(key.key_data, id);
            key
        })
        .collect();
    let metadata = ExportMetadata {
        start_timestamp: Some(FIRST_DAY * 86_400),
        end_timestamp: Some((FIRST_DAY + days) * 86_400),
        region: Some(KEY_ID.into()),
        ..ExportMetadata::default()
    };
    let export_path = folder.join("export.zip");
    let signer = Signer {
        key: &authority.signing,
        key_id: KEY_ID,
        key_version: KEY_VERSION,
    };
    let export_keys = write_atomically(&export_path, |file| {
        let written =
            write_signed(file, &metadata, keys, 1000, rng, &[signer]).in_file(&export_path)?;
        Ok(written.keys)
    })?;
    let table = KeyTable::new(read_verified(&export_path, &authority.registry)?);

    let mut f0_owner = Vec::new();
    let f0 = F0List {
        entries: cases()
            .filter(|(_, p)| p.kind == Kind::Bluezone)
            .flat_map(|(id, p)| {
                (0..days).filter_map(move |d| {
                    let day = (FIRST_DAY + d) as u32;
                    Some((
                        id,
                        F0Entry {
                            daily_key: p.base.as_ref()?.daily_key(day).ok()?,
                            time_start: u64::from(day) * 86_400,
                            max: SlotsPerDay::DEFAULT,
                            time_end: u64::from(day) * 86_400 + 86_399,
                        },
                    ))
                })
            })
            .map(|(id, entry)| {
                f0_owner.push(id);
                entry
            })
            .collect(),
    };
    let f0_path = folder.join("f0.json");
    write_atomically(&f0_path, |file| {
        file.write_all(f0.to_json().as_bytes()).in_file(&f0_path)
    })?;
    let text = std::fs::read_to_string(&f0_path).in_file(&f0_path)?;
    let f0 = F0List::from_json(&text).in_file(&f0_path)?;
    let range = (FIRST_DAY * 86_400_000, (FIRST_DAY + days) * 86_400_000 - 1);
    // The health authority's public key, so that the kept files can be checked with the tool.
    let pem_path = folder.join("public-key.pem");
    let pem = authority
        .signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .in_environment("the demo's public key")?;
    write_atomically(&pem_path, |file| {
        file.write_all(pem.as_bytes()).in_file(&pem_path)
    })?;
    Ok(Publication {
        table,
        export_keys,
        f0_entries: f0.entries.len(),
        f0: F0Table::new(&f0, TimeUnit::Milliseconds, range.0, range.1),
        tek_owner,
        f0_owner,
        cases_with_app: cases().count(),
    })
}

/// A file the demo wrote does not verify: the demo's own fault.
#[derive(Debug, thiserror::Error)]
#[error("the export the demo signed is not authentic")]
struct NotAuthentic;

/// The keys of an export file, once its signature is verified.
fn read_verified(
    path: &Path,
    registry: &PublicKeyRegistry,
) -> Result<Vec<bluezone::gaen::DiagnosisKey>, CliError> {
    let file = std::fs::File::open(path).in_file(path)?;
    let mut export = ExportFile::open(std::io::BufReader::new(file)).in_file(path)?;
    let mut stream = export.keys(Some(registry)).in_file(path)?;
    let mut keys = Vec::new();
    for item in stream.by_ref() {
        keys.push(item.in_file(path)?.key);
    }
    if !stream.finish().in_file(path)?.authentic() {
        return Err(NotAuthentic).in_file(path);
    }
    Ok(keys)
}
