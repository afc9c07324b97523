//! The people: who installs the app at which adoption level, which protocol and phone they
//! have, what they lose (Bluetooth off, phone left at home, iOS in the background), their keys
//! and what their phones advertise when.

use std::sync::OnceLock;

use bluezone::blid::{BaseKey, BluezoneId, SlotsPerDay};
use bluezone::gaen::{
    AssociatedEncryptedMetadata, AssociatedEncryptedMetadataKey, Metadata,
    RollingProximityIdentifier, RollingProximityIdentifierKey, TemporaryExposureKey,
};
use bluezone::{EnIntervalNumber, RollingWindow};
use rand_chacha::ChaCha20Rng;

use super::town::{Contact, FIRST_DAY, Noise, uniform};

/// What every simulated phone sends, dBm.
pub const TX_POWER: i8 = -15;

/// The protocol a phone speaks; a phone only hears phones of its own kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
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

/// The documented losses of a real deployment (spec §demo.2), as shares in [0, 1].
#[derive(Clone, Copy, Debug)]
pub struct Losses {
    /// Of app users, the share with Bluetooth (or the app's tracing) off on a given day.
    pub bluetooth_off: f64,
    /// Of app users, the share who leave the phone at home on a given day: it still sees
    /// their household, nothing outside.
    pub phone_at_home: f64,
    /// Of Bluezone app users, the share on iPhones.
    pub ios_share: f64,
    /// The share of time a Bluezone iPhone app is in the foreground: two iPhones in the
    /// background do not see each other.
    pub ios_foreground: f64,
}

/// One person of the town and their phone.
pub struct Person {
    pub kind: Kind,
    /// The person runs the app at every adoption level above this (nested levels).
    pub rank: f64,
    pub ios: bool,
    pub positive: bool,
    /// Bit d: Bluetooth off on day d.
    bluetooth_off: u16,
    /// Bit d: phone left at home on day d.
    at_home: u16,
    /// GAEN: one key a day.
    pub teks: Vec<TemporaryExposureKey>,
    /// GAEN: each day's RPIK and AEMK, derived once.
    day_keys: Vec<(
        RollingProximityIdentifierKey,
        AssociatedEncryptedMetadataKey,
    )>,
    /// Bluezone: the base key.
    pub base: Option<BaseKey>,
    /// Bluezone: each day's identifiers, derived when first needed.
    blids: Vec<OnceLock<Vec<BluezoneId>>>,
}

impl Person {
    /// A person with fresh keys for `days` days, on Bluezone with probability
    /// `bluezone_share`.
    pub fn generate(
        days: u64,
        bluezone_share: f64,
        losses: &Losses,
        rng: &mut ChaCha20Rng,
    ) -> Self {
        let kind = if uniform(rng) < bluezone_share {
            Kind::Bluezone
        } else {
            Kind::Gaen
        };
        let rank = uniform(rng);
        let ios = kind == Kind::Bluezone && uniform(rng) < losses.ios_share;
        let mut bluetooth_off = 0u16;
        let mut at_home = 0u16;
        for day in 0..days.min(16) {
            bluetooth_off |= u16::from(uniform(rng) < losses.bluetooth_off) << day;
            at_home |= u16::from(uniform(rng) < losses.phone_at_home) << day;
        }
        let mut person = Self {
            kind,
            rank,
            ios,
            positive: false,
            bluetooth_off,
            at_home,
            teks: Vec::new(),
            day_keys: Vec::new(),
            base: None,
            blids: Vec::new(),
        };
        match kind {
            Kind::Gaen => {
                person.teks = (0..days)
                    .map(|d| {
                        let day = EnIntervalNumber::new(((FIRST_DAY + d) * 144) as u32);
                        TemporaryExposureKey::generate_with_rng(rng, RollingWindow::day_of(day))
                    })
                    .collect();
                person.day_keys = person
                    .teks
                    .iter()
                    .map(|t| {
                        (
                            t.rolling_proximity_identifier_key(),
                            t.associated_encrypted_metadata_key(),
                        )
                    })
                    .collect();
            }
            Kind::Bluezone => {
                person.base = Some(BaseKey::generate_with_rng(rng, FIRST_DAY as u32));
                person.blids = (0..days).map(|_| OnceLock::new()).collect();
            }
        }
        person
    }

    // spec §demo.1: nested adoption.
    /// Whether the person runs the app at adoption `level`.
    pub fn has_app(&self, level: f64) -> bool {
        self.rank < level
    }

    fn bit(bits: u16, day: usize) -> bool {
        day < 16 && bits & (1 << day) != 0
    }

    /// Whether the phone could take part in `contact` (of its day): Bluetooth on, and the
    /// phone carried when the encounter is away from home.
    fn present(&self, contact: &Contact) -> bool {
        let day = contact.day();
        !Self::bit(self.bluetooth_off, day) && (contact.at_home || !Self::bit(self.at_home, day))
    }

    /// The GAEN identifier and metadata the phone advertised at Unix second `t`.
    pub fn gaen_advertised(
        &self,
        t: u64,
    ) -> (RollingProximityIdentifier, AssociatedEncryptedMetadata) {
        let day = (t / 86_400).saturating_sub(FIRST_DAY) as usize;
        let Some((rpik, aemk)) = self.day_keys.get(day) else {
            return Default::default();
        };
        let rpi = rpik.identifier(EnIntervalNumber::new((t / 600) as u32));
        (rpi, aemk.encrypt(&rpi, Metadata::v1_0(TX_POWER)))
    }

    /// The Bluezone identifier the phone advertised at Unix second `t`.
    pub fn blid(&self, t: u64) -> BluezoneId {
        let day = (t / 86_400).saturating_sub(FIRST_DAY) as usize;
        let (Some(cell), Some(base)) = (self.blids.get(day), &self.base) else {
            return BluezoneId::default();
        };
        let ids = cell.get_or_init(|| {
            let mut ids = [BluezoneId::default(); 96];
            base.day_identifiers(
                FIRST_DAY as u32 + day as u32,
                SlotsPerDay::DEFAULT,
                &mut ids,
            )
            .map(<[BluezoneId]>::to_vec)
            .unwrap_or_default()
        });
        ids.get(((t % 86_400) / 900) as usize)
            .copied()
            .unwrap_or_default()
    }
}

// spec §demo.2: what is lost.
/// Whether two app users of the same protocol hear each other in `contact` (the contact's
/// index in the town seeds the iOS draw): both phones present, and not two Bluezone iPhones
/// both in the background. Adoption is not judged here.
pub fn hear_each_other(
    a: &Person,
    b: &Person,
    contact: &Contact,
    index: u32,
    seed: u64,
    losses: &Losses,
) -> bool {
    if a.kind != b.kind || !a.present(contact) || !b.present(contact) {
        return false;
    }
    if a.ios && b.ios {
        let mut noise = Noise::new(seed, u64::from(index), 7);
        let foreground = |n: &mut Noise| n.uniform() < losses.ios_foreground;
        return foreground(&mut noise) || foreground(&mut noise);
    }
    true
}
