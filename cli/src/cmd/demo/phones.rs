//! The phones: which protocol each speaks, its keys, and what it advertises when.

use bluezone::blid::{BaseKey, BluezoneId, SlotsPerDay};
use bluezone::gaen::{
    AssociatedEncryptedMetadata, Metadata, RollingProximityIdentifier, TemporaryExposureKey,
};
use bluezone::{EnIntervalNumber, RollingWindow};
use rand_chacha::ChaCha20Rng;

use super::town::{FIRST_DAY, uniform};

/// What every simulated phone sends, dBm.
pub const TX_POWER: i8 = -15;

/// The protocol a phone speaks; a phone only hears phones of its own kind.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Gaen,
    Bluezone,
}

impl Kind {
    pub const fn name(self) -> &'static str {
        match self {
            Self::Gaen => "GAEN",
            Self::Bluezone => "Bluezone",
        }
    }
}

/// What a phone broadcasts: GAEN keys per day, or a Bluezone base key; and, derived once,
/// what it advertises in every interval or slot.
pub struct Phone {
    pub kind: Kind,
    pub teks: Vec<TemporaryExposureKey>,
    pub base: BaseKey,
    /// Per day, per interval: (RPI, AEM) for GAEN phones, empty for Bluezone phones.
    advertised: Vec<Vec<(RollingProximityIdentifier, AssociatedEncryptedMetadata)>>,
    /// Per day, per 15-minute slot: the identifier, for Bluezone phones.
    blids: Vec<Vec<BluezoneId>>,
}

impl Phone {
    /// A phone with fresh keys for `days` days: GAEN for two thirds of phones.
    pub fn generate(days: u64, rng: &mut ChaCha20Rng) -> Self {
        let kind = if uniform(rng) < 2.0 / 3.0 {
            Kind::Gaen
        } else {
            Kind::Bluezone
        };
        let teks = (0..days)
            .map(|d| {
                let window =
                    RollingWindow::day_of(EnIntervalNumber::new(((FIRST_DAY + d) * 144) as u32));
                TemporaryExposureKey::generate_with_rng(rng, window)
            })
            .collect();
        let base = BaseKey::generate_with_rng(rng, FIRST_DAY as u32);
        Self::new(kind, teks, base)
    }

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

    /// The GAEN identifier and metadata it advertised at Unix second `t`.
    pub fn gaen_rpi(&self, t: u64) -> (RollingProximityIdentifier, AssociatedEncryptedMetadata) {
        let day = (t / 86_400).saturating_sub(FIRST_DAY) as usize;
        let interval = ((t % 86_400) / 600) as usize;
        self.advertised
            .get(day)
            .and_then(|d| d.get(interval))
            .copied()
            .unwrap_or_default()
    }

    /// The Bluezone identifier it advertised at Unix second `t`.
    pub fn blid(&self, t: u64) -> BluezoneId {
        let day = (t / 86_400).saturating_sub(FIRST_DAY) as usize;
        let slot = ((t % 86_400) / 900) as usize;
        self.blids
            .get(day)
            .and_then(|d| d.get(slot))
            .copied()
            .unwrap_or_default()
    }
}
