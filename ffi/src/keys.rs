//! The no-allocator core: keys, identifiers, metadata, advertisements and sighting records.
//! Everything here also builds for bare-metal targets.

use bluezone::ble::{self, AdvertisementKind, IosRecognition, bluezone as bz_ble};
use bluezone::blid::{BaseKey, BluezoneId, SlotsPerDay};
use bluezone::encounter::{BluezoneSighting, GaenSighting, Sighting};
use bluezone::gaen::{
    AssociatedEncryptedMetadata, AssociatedEncryptedMetadataKey, Metadata,
    RollingProximityIdentifier, TemporaryExposureKey,
};
use bluezone::{EnIntervalNumber, ExposureNotificationAdvertisement, RollingPeriod, RollingWindow};

use crate::ptr::{array, bytes, input, output, put, slice_mut};
use crate::status::{BzStatus, Failure, Outcome, guard};

/// A temporary exposure key: 16 secret bytes and the intervals it is used for. Wipe it when
/// done with it.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct BzTek {
    /// The key bytes.
    pub key_data: [u8; 16],
    /// The first 10-minute interval of its window.
    pub rolling_start_interval_number: u32,
    /// Intervals in its window, 1 to 144.
    pub rolling_period: u32,
}

/// The key bytes are secret: a debug print shows the window only.
impl core::fmt::Debug for BzTek {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BzTek")
            .field("key_data", &"[redacted]")
            .field(
                "rolling_start_interval_number",
                &self.rolling_start_interval_number,
            )
            .field("rolling_period", &self.rolling_period)
            .finish()
    }
}

/// An Exposure Notification advertisement as read from a payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzGaenAdvertisement {
    /// The rolling proximity identifier.
    pub rpi: [u8; 16],
    /// The associated encrypted metadata.
    pub aem: [u8; 4],
    /// Whether the payload had a Flags structure.
    pub has_flags: bool,
    /// Its first byte (0 without one).
    pub flags: u8,
    /// Whether a 16-bit service UUID list named 0xFD6F.
    pub lists_service_uuid: bool,
}

/// What an advertising payload is.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BzAdvertisementKind {
    /// Anything else.
    #[default]
    Unknown = 0,
    /// Exposure Notification: see `gaen`.
    Gaen = 1,
    /// An Android phone running Bluezone: see `bluezone_id`.
    BluezoneAndroid = 2,
    /// An iPhone running Bluezone in the foreground (service UUID listed): read the
    /// identifier over GATT.
    BluezoneIosForeground = 3,
    /// An iPhone running Bluezone in the background (Apple's overflow area): read the
    /// identifier over GATT.
    BluezoneIosBackground = 4,
}

/// A classified advertising payload.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzAdvertisement {
    /// What it is.
    pub kind: BzAdvertisementKind,
    /// With `BZ_ADVERTISEMENT_KIND_GAEN`: its content (zero otherwise).
    pub gaen: BzGaenAdvertisement,
    /// With `BZ_ADVERTISEMENT_KIND_BLUEZONE_ANDROID`: the identifier (zero otherwise).
    pub bluezone_id: [u8; 12],
}

/// One Exposure Notification advertisement received.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzGaenSighting {
    /// When, Unix seconds.
    pub unix_seconds: u64,
    /// The identifier.
    pub rpi: [u8; 16],
    /// Its encrypted metadata.
    pub aem: [u8; 4],
    /// Calibrated RSSI, dBm.
    pub rssi: i8,
    /// When the previous scan ran, Unix seconds; 0 when unknown.
    pub previous_scan_unix_seconds: u64,
}

/// One row of a Bluezone contact history.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzBluezoneSighting {
    /// When, Unix milliseconds.
    pub unix_ms: u64,
    /// The identifier heard.
    pub contact_id: [u8; 12],
    /// The identifier this phone broadcast then.
    pub own_id: [u8; 12],
    /// RSSI, dBm.
    pub rssi: i8,
}

/// A decoded sighting record: `kind` says which member holds it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct BzSighting {
    /// 1: `gaen`; 2: `bluezone` (the record's kind byte).
    pub kind: u8,
    /// A GAEN sighting (zero otherwise).
    pub gaen: BzGaenSighting,
    /// A Bluezone sighting (zero otherwise).
    pub bluezone: BzBluezoneSighting,
}

impl BzSighting {
    /// The C form of a sighting.
    pub(crate) fn of(sighting: &Sighting) -> Self {
        let mut result = Self {
            kind: sighting.kind(),
            ..Self::default()
        };
        match sighting {
            Sighting::Gaen(s) => {
                result.gaen = BzGaenSighting {
                    unix_seconds: s.unix_seconds,
                    rpi: s.rpi.to_bytes(),
                    aem: s.aem.to_bytes(),
                    rssi: s.rssi,
                    previous_scan_unix_seconds: s.previous_scan_unix_seconds,
                };
            }
            Sighting::Bluezone(s) => {
                result.bluezone = BzBluezoneSighting {
                    unix_ms: s.unix_ms,
                    contact_id: s.contact_id.to_bytes(),
                    own_id: s.own_id.to_bytes(),
                    rssi: s.rssi,
                };
            }
        }
        result
    }

    /// The library's sighting; a `kind` that is neither 1 nor 2 is refused.
    #[cfg(feature = "std")]
    pub(crate) fn sighting(&self) -> Result<Sighting, Failure> {
        match self.kind {
            bluezone::encounter::record::KIND_GAEN_V1 => {
                Ok(Sighting::Gaen(gaen_sighting(&self.gaen)))
            }
            bluezone::encounter::record::KIND_BLUEZONE_V1 => {
                Ok(Sighting::Bluezone(BluezoneSighting {
                    unix_ms: self.bluezone.unix_ms,
                    contact_id: BluezoneId::from_bytes(self.bluezone.contact_id),
                    own_id: BluezoneId::from_bytes(self.bluezone.own_id),
                    rssi: self.bluezone.rssi,
                }))
            }
            other => Err(invalid(format_args!(
                "a sighting's kind is {other}: 1 (GAEN) or 2 (Bluezone)"
            ))),
        }
    }
}

fn invalid(detail: impl core::fmt::Display) -> Failure {
    Failure::new(BzStatus::InvalidArgument, detail)
}

fn malformed(detail: impl core::fmt::Display) -> Failure {
    Failure::new(BzStatus::Malformed, detail)
}

fn too_small(needed: usize, available: usize) -> Failure {
    Failure::new(
        BzStatus::BufferTooSmall,
        format_args!("{available} bytes given, {needed} needed"),
    )
}

pub(crate) fn window(start: u32, period: u32) -> Result<RollingWindow, Failure> {
    let period = RollingPeriod::new(period).map_err(invalid)?;
    RollingWindow::new(EnIntervalNumber::new(start), period).map_err(invalid)
}

/// The identifiers of the key's window, in `buffer`.
fn window_identifiers<'b>(
    tek: &TemporaryExposureKey,
    buffer: &'b mut [RollingProximityIdentifier; 144],
) -> &'b [RollingProximityIdentifier] {
    tek.rolling_proximity_identifier_key()
        .window_identifiers(tek.window(), buffer)
}

/// The first `needed` bytes of `out`, or the failure that names both sizes.
pub(crate) fn room(out: &mut [u8], needed: usize) -> Result<&mut [u8], Failure> {
    let available = out.len();
    out.get_mut(..needed)
        .ok_or_else(|| too_small(needed, available))
}

/// Writes `text` and a NUL into `out` (the hosted build's text results).
#[cfg(feature = "std")]
pub(crate) fn write_text(text: &str, out: &mut [u8]) -> Result<(), Failure> {
    let (body, nul) = room(out, text.len() + 1)?.split_at_mut(text.len());
    body.copy_from_slice(text.as_bytes());
    nul.fill(0);
    Ok(())
}

pub(crate) fn tek_of(tek: &BzTek) -> Result<TemporaryExposureKey, Failure> {
    let window = window(tek.rolling_start_interval_number, tek.rolling_period)?;
    Ok(TemporaryExposureKey::from_bytes(tek.key_data, window))
}

/// The 10-minute interval number of a Unix time (seconds / 600).
///
/// # Safety
/// `out` is NULL or points to a writable `uint32_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_interval_number(unix_seconds: u64, out: *mut u32) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let out = unsafe { output(out, "out") }?;
        let interval = EnIntervalNumber::from_unix_seconds(unix_seconds).map_err(invalid)?;
        put(out, interval.get())
    })
}

/// Makes a temporary exposure key from exactly 16 bytes of the caller's entropy (a hardware
/// TRNG or the operating system's CSPRNG: the key is only as secret as they are), for the
/// window of `rolling_period` intervals (1 to 144; 144 for a day) from
/// `rolling_start_interval_number`.
///
/// # Safety
/// `entropy` points to `entropy_len` readable bytes; `out` to a writable `bz_tek`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_tek_from_entropy(
    entropy: *const u8,
    entropy_len: usize,
    rolling_start_interval_number: u32,
    rolling_period: u32,
    out: *mut BzTek,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (entropy, out) =
            unsafe { (bytes(entropy, entropy_len, "entropy")?, output(out, "out")?) };
        let key_data = <[u8; 16]>::try_from(entropy).map_err(|_| {
            invalid(format_args!(
                "{entropy_len} bytes of entropy; a key takes 16"
            ))
        })?;
        window(rolling_start_interval_number, rolling_period)?;
        put(
            out,
            BzTek {
                key_data,
                rolling_start_interval_number,
                rolling_period,
            },
        )
    })
}

/// Writes the key's rolling proximity identifiers, one for each interval of its window in
/// order (16 bytes each), to `out`, which holds `out_len` bytes (at least 16 × rolling
/// period), and their number to `count`.
///
/// # Safety
/// `tek` points to a `bz_tek`; `out` to `out_len` writable bytes; `count` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_rpis(
    tek: *const BzTek,
    out: *mut u8,
    out_len: usize,
    count: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (tek, out, count) = unsafe {
            (
                input(tek, "tek")?,
                slice_mut(out, out_len, "out")?,
                output(count, "count")?,
            )
        };
        let tek = tek_of(tek)?;
        let mut buffer = [RollingProximityIdentifier::default(); 144];
        let rpis = window_identifiers(&tek, &mut buffer);
        let out = room(out, rpis.len() * RollingProximityIdentifier::LEN)?;
        for (chunk, rpi) in out
            .chunks_exact_mut(RollingProximityIdentifier::LEN)
            .zip(rpis)
        {
            chunk.copy_from_slice(rpi.as_bytes());
        }
        put(count, rpis.len())
    })
}

/// Writes the associated encrypted metadata of each of the key's identifiers, in the order
/// of `bz_rpis` (4 bytes each), encrypting the same 4 bytes of `metadata` (version byte, TX
/// power, two reserved bytes) under each; `out_len` is at least 4 × rolling period.
///
/// # Safety
/// `tek` points to a `bz_tek`; `metadata` to 4 readable bytes; `out` to `out_len` writable
/// bytes; `count` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_aems(
    tek: *const BzTek,
    metadata: *const u8,
    out: *mut u8,
    out_len: usize,
    count: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (tek, metadata, out, count) = unsafe {
            (
                input(tek, "tek")?,
                array::<4>(metadata, "metadata")?,
                slice_mut(out, out_len, "out")?,
                output(count, "count")?,
            )
        };
        let tek = tek_of(tek)?;
        let mut buffer = [RollingProximityIdentifier::default(); 144];
        let rpis = window_identifiers(&tek, &mut buffer);
        let out = room(out, rpis.len() * AssociatedEncryptedMetadata::LEN)?;
        let aemk = tek.associated_encrypted_metadata_key();
        let metadata = Metadata::from_bytes(metadata);
        for (chunk, rpi) in out
            .chunks_exact_mut(AssociatedEncryptedMetadata::LEN)
            .zip(rpis)
        {
            chunk.copy_from_slice(aemk.encrypt(rpi, metadata).as_bytes());
        }
        put(count, rpis.len())
    })
}

/// Decrypts the metadata an advertisement carried, with the key that sent it (a diagnosis
/// key after a match): `metadata_out` receives the 4 plain bytes. Any 4 bytes decrypt; judge
/// the result by its plausibility.
///
/// # Safety
/// `key_data` and `rpi` point to 16 readable bytes, `aem` to 4, `metadata_out` to 4 writable
/// bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_aem_decrypt(
    key_data: *const u8,
    rpi: *const u8,
    aem: *const u8,
    metadata_out: *mut u8,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (key, rpi, aem, out) = unsafe {
            (
                array::<16>(key_data, "key_data")?,
                array::<16>(rpi, "rpi")?,
                array::<4>(aem, "aem")?,
                output(metadata_out.cast::<[u8; 4]>(), "metadata_out")?,
            )
        };
        let aemk = AssociatedEncryptedMetadataKey::derive(&key);
        let metadata = aemk.decrypt(
            &RollingProximityIdentifier::from_bytes(rpi),
            AssociatedEncryptedMetadata::from_bytes(aem),
        );
        put(out, metadata.to_bytes())
    })
}

/// The rolling proximity identifier of one interval of the key's window.
///
/// # Safety
/// `tek` points to a `bz_tek`; `rpi_out` to 16 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_rpi_at(
    tek: *const BzTek,
    interval_number: u32,
    rpi_out: *mut u8,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (tek, out) = unsafe {
            (
                input(tek, "tek")?,
                output(rpi_out.cast::<[u8; 16]>(), "rpi_out")?,
            )
        };
        let tek = tek_of(tek)?;
        let interval = EnIntervalNumber::new(interval_number);
        if !tek.window().contains(interval) {
            return Err(invalid(format_args!(
                "interval {interval_number} is outside the key's window"
            )));
        }
        let rpi = tek.rolling_proximity_identifier_key().identifier(interval);
        put(out, rpi.to_bytes())
    })
}

/// The 31-byte Exposure Notification advertising payload of an identifier and its metadata,
/// with `flags` (0x1A is what iPhones send).
///
/// # Safety
/// `rpi` points to 16 readable bytes, `aem` to 4, `out` to 31 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_gaen_advertisement_encode(
    rpi: *const u8,
    aem: *const u8,
    flags: u8,
    out: *mut u8,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (rpi, aem, out) = unsafe {
            (
                array::<16>(rpi, "rpi")?,
                array::<4>(aem, "aem")?,
                output(out.cast::<[u8; 31]>(), "out")?,
            )
        };
        let advertisement = ExposureNotificationAdvertisement::new(
            RollingProximityIdentifier::from_bytes(rpi),
            AssociatedEncryptedMetadata::from_bytes(aem),
        );
        put(out, advertisement.encode(flags))
    })
}

fn gaen_of(parsed: &ble::ParsedExposureNotification) -> BzGaenAdvertisement {
    BzGaenAdvertisement {
        rpi: parsed.advertisement.rpi.to_bytes(),
        aem: parsed.advertisement.aem.to_bytes(),
        has_flags: parsed.flags.is_some(),
        flags: parsed.flags.unwrap_or(0),
        lists_service_uuid: parsed.lists_service_uuid,
    }
}

fn advertisement_error(error: ble::AdvertisementError) -> Failure {
    malformed(format_args!("{error} ({})", error.class()))
}

/// Reads an Exposure Notification advertisement from any legacy advertising payload (up to
/// 31 bytes).
///
/// # Safety
/// `payload` points to `len` readable bytes; `out` to a writable `bz_gaen_advertisement`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_gaen_advertisement_parse(
    payload: *const u8,
    len: usize,
    out: *mut BzGaenAdvertisement,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (payload, out) = unsafe { (bytes(payload, len, "payload")?, output(out, "out")?) };
        let parsed =
            ExposureNotificationAdvertisement::parse(payload).map_err(advertisement_error)?;
        put(out, gaen_of(&parsed))
    })
}

/// Says what any legacy advertising payload is: Exposure Notification, Bluezone from an
/// Android phone (with its identifier), Bluezone from an iPhone, or unknown.
///
/// # Safety
/// `payload` points to `len` readable bytes; `out` to a writable `bz_advertisement`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_advertisement_classify(
    payload: *const u8,
    len: usize,
    out: *mut BzAdvertisement,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (payload, out) = unsafe { (bytes(payload, len, "payload")?, output(out, "out")?) };
        let mut result = BzAdvertisement::default();
        match ble::classify(payload).map_err(advertisement_error)? {
            AdvertisementKind::Gaen(parsed) => {
                result.kind = BzAdvertisementKind::Gaen;
                result.gaen = gaen_of(&parsed);
            }
            AdvertisementKind::BluezoneAndroid(id) => {
                result.kind = BzAdvertisementKind::BluezoneAndroid;
                result.bluezone_id = id.to_bytes();
            }
            AdvertisementKind::BluezoneIos(IosRecognition::ServiceUuid) => {
                result.kind = BzAdvertisementKind::BluezoneIosForeground;
            }
            AdvertisementKind::BluezoneIos(IosRecognition::OverflowArea) => {
                result.kind = BzAdvertisementKind::BluezoneIosBackground;
            }
            _ => {}
        }
        put(out, result)
    })
}

/// The identifier a Bluezone 2020 phone broadcast at `unix_ms`, from its 32-byte base key and
/// base time (Unix seconds, as the app's upload gives them), with the app's 96 slots a day.
///
/// # Safety
/// `base_key` points to 32 readable bytes; `out` to 12 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_bluezone_identifier(
    base_key: *const u8,
    base_time_s: u64,
    unix_ms: u64,
    out: *mut u8,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (key, out) = unsafe {
            (
                array::<32>(base_key, "base_key")?,
                output(out.cast::<[u8; 12]>(), "out")?,
            )
        };
        let key = BaseKey::from_base_time(key, base_time_s).map_err(invalid)?;
        let id = key
            .identifier_at(unix_ms, SlotsPerDay::DEFAULT)
            .map_err(invalid)?;
        put(out, id.to_bytes())
    })
}

/// The 23-byte advertising payload of an Android Bluezone phone for an identifier, with
/// `flags`.
///
/// # Safety
/// `id` points to 12 readable bytes; `out` to 23 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_bluezone_advertisement_encode(
    id: *const u8,
    flags: u8,
    out: *mut u8,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (id, out) = unsafe {
            (
                array::<12>(id, "id")?,
                output(out.cast::<[u8; bz_ble::ANDROID_ADVERTISEMENT_LEN]>(), "out")?,
            )
        };
        put(
            out,
            bz_ble::encode_android(&BluezoneId::from_bytes(id), flags),
        )
    })
}

fn encode(sighting: &Sighting, out: &mut [u8], written: &mut usize) -> Outcome {
    let needed = sighting.encoded_len();
    if out.len() < needed {
        return Err(too_small(needed, out.len()));
    }
    let n = sighting.encode_into(out).map_err(malformed)?;
    put(written, n)
}

/// Encodes a GAEN sighting as a 38-byte record of the encounter log (spec §enc.1); `written`
/// receives its length.
///
/// # Safety
/// `sighting` points to a `bz_gaen_sighting`; `out` to `out_len` writable bytes; `written` to
/// a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_gaen_sighting_encode(
    sighting: *const BzGaenSighting,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (s, out, written) = unsafe {
            (
                input(sighting, "sighting")?,
                slice_mut(out, out_len, "out")?,
                output(written, "written")?,
            )
        };
        encode(&Sighting::Gaen(gaen_sighting(s)), out, written)
    })
}

pub(crate) fn gaen_sighting(s: &BzGaenSighting) -> GaenSighting {
    GaenSighting {
        unix_seconds: s.unix_seconds,
        rpi: RollingProximityIdentifier::from_bytes(s.rpi),
        aem: AssociatedEncryptedMetadata::from_bytes(s.aem),
        rssi: s.rssi,
        previous_scan_unix_seconds: s.previous_scan_unix_seconds,
    }
}

/// Encodes a Bluezone sighting as a 34-byte record of the encounter log (spec §enc.1).
///
/// # Safety
/// `sighting` points to a `bz_bluezone_sighting`; `out` to `out_len` writable bytes;
/// `written` to a `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_bluezone_sighting_encode(
    sighting: *const BzBluezoneSighting,
    out: *mut u8,
    out_len: usize,
    written: *mut usize,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (s, out, written) = unsafe {
            (
                input(sighting, "sighting")?,
                slice_mut(out, out_len, "out")?,
                output(written, "written")?,
            )
        };
        let sighting = Sighting::Bluezone(BluezoneSighting {
            unix_ms: s.unix_ms,
            contact_id: BluezoneId::from_bytes(s.contact_id),
            own_id: BluezoneId::from_bytes(s.own_id),
            rssi: s.rssi,
        });
        encode(&sighting, out, written)
    })
}

/// Decodes one record of the encounter log, of either kind.
///
/// # Safety
/// `record` points to `len` readable bytes; `out` to a writable `bz_sighting`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bz_sighting_decode(
    record: *const u8,
    len: usize,
    out: *mut BzSighting,
) -> BzStatus {
    guard(|| {
        // SAFETY: the caller's contract.
        let (record, out) = unsafe { (bytes(record, len, "record")?, output(out, "out")?) };
        let sighting =
            Sighting::decode(record).map_err(|e| malformed(format_args!("{e} ({})", e.class())))?;
        let result = BzSighting::of(&sighting);
        put(out, result)
    })
}
