//! Streams an `export.bin` of ten million keys through the reader and reports peak memory.
//!
//! Run: `cargo run --release --features export --example large_export [KEYS]`. It writes the
//! file to the system's temporary folder with the streaming writer, then reads every key back
//! through `ExportReader` over a `BufReader<File>`, and prints the peak resident memory of the
//! reading phase (Linux: `VmHWM`, reset before reading). It exits with an error if the keys
//! read back differ or peak memory reaches 32 MiB.

#![allow(clippy::indexing_slicing, reason = "an example on data it made itself")]

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::time::Instant;

use bluezone::export::bin::ExportMetadata;
use bluezone::export::stream::{ExportReader, ExportWriter};
use bluezone::gaen::DiagnosisKey;
use bluezone::{EnIntervalNumber, RollingWindow};

const LIMIT_KIB: u64 = 32 * 1024;

/// Peak resident memory of this process since the last reset, in KiB (Linux only).
fn peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn key(n: u64) -> DiagnosisKey {
    let mut key_data = [0u8; 16];
    key_data[..8].copy_from_slice(&n.to_le_bytes());
    key_data[8..].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_le_bytes());
    let day = EnIntervalNumber::new(2_650_032 + (n % 14) as u32 * 144);
    let mut key = DiagnosisKey::new(key_data, RollingWindow::day_of(day));
    key.transmission_risk_level = (n % 9) as u8;
    key
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(10_000_000), |a| a.parse())?;
    let path =
        std::env::temp_dir().join(format!("bluezone-large-export-{}.bin", std::process::id()));

    let started = Instant::now();
    let metadata = ExportMetadata {
        region: Some("VN".into()),
        batch_num: Some(1),
        batch_size: Some(1),
        ..ExportMetadata::default()
    };
    let mut writer = ExportWriter::new(BufWriter::new(File::create(&path)?), &metadata)?;
    for n in 0..count {
        writer.write_key(&key(n), false)?;
    }
    writer.finish()?;
    let bytes = std::fs::metadata(&path)?.len();
    println!(
        "wrote {count} keys, {} MB, in {:.1?}",
        bytes / 1_000_000,
        started.elapsed()
    );

    // Forget the writer's peak so the figure is the reader's alone.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let started = Instant::now();
    let mut read = 0u64;
    for (n, item) in ExportReader::new(BufReader::new(File::open(&path)?))?.enumerate() {
        let item = item?;
        if item.key != key(n as u64) {
            return Err(format!("key {n} differs").into());
        }
        read += 1;
    }
    let elapsed = started.elapsed();
    std::fs::remove_file(&path)?;
    if read != count {
        return Err(format!("read {read} keys, wrote {count}").into());
    }
    let rate = read as f64 / elapsed.as_secs_f64();
    print!(
        "read {read} keys in {elapsed:.1?} ({:.1} M keys/s)",
        rate / 1e6
    );
    match peak_kib() {
        Some(kib) => {
            println!(
                ", peak memory {:.1} MiB{}",
                kib as f64 / 1024.0,
                if reset { "" } else { " (whole process)" }
            );
            if kib >= LIMIT_KIB {
                return Err(format!("peak memory {kib} KiB is not under 32 MiB").into());
            }
        }
        None => println!(", peak memory not measurable on this system"),
    }
    Ok(())
}
