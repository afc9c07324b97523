//! Base key, daily keys, sub-keys and the 12-byte identifier (spec §blid.1–§blid.3).

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};

use super::BlidError;
use crate::bytes::{public_bytes, secret_bytes};

/// Milliseconds in a UTC day.
pub const DAY_MS: u64 = 86_400_000;
/// The 13 ASCII bytes hashed after a daily key to start its sub-key chain. The app spells it
/// without the second "e" (spec §blid.2).
pub const SUBKEY_SALT: &[u8; 13] = b"bluzonesubkey";
/// Which bytes of a 32-byte sub-key form the identifier (spec §blid.3).
pub const ID_BYTE_POSITIONS: [usize; 12] = [0, 4, 8, 12, 16, 18, 20, 22, 24, 26, 28, 30];
/// How many days past its base day a key chain is followed. A chain step is one SHA-256, so
/// this bounds the work an untrusted instant can cause (100 years).
pub const MAX_CHAIN_DAYS: u32 = 36_525;

public_bytes!(
    /// `BLID`: the 12-byte identifier a Bluezone phone broadcasts during one slot. Written in
    /// upper-case hex, as the app did.
    BluezoneId,
    12,
    upper_hex = true
);

/// How many identifier slots a UTC day has: 96 (15 minutes) in the shipped app, 144
/// (10 minutes) in the May 2020 release candidate. The app took the value from server
/// configuration; 1..=1440 is accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "u32", into = "u32"))]
pub struct SlotsPerDay(u16);

impl SlotsPerDay {
    /// 96 slots of 15 minutes: what Bluezone 2.0.4 and 3.0.3 used.
    pub const DEFAULT: Self = Self(96);
    /// 144 slots of 10 minutes: the rc-v2.0.0 build of May 2020.
    pub const RC2: Self = Self(144);
    /// The largest accepted value: one-minute slots.
    pub const MAX: u32 = 1440;

    /// Checks `1..=1440`.
    ///
    /// # Errors
    /// [`BlidError::SlotsPerDay`] outside that range.
    pub const fn new(slots: u32) -> Result<Self, BlidError> {
        if slots >= 1 && slots <= Self::MAX {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "checked to be at most 1440 just above"
            )]
            Ok(Self(slots as u16))
        } else {
            Err(BlidError::SlotsPerDay(slots))
        }
    }

    /// The number of slots.
    #[must_use]
    pub const fn get(self) -> u32 {
        self.0 as u32
    }

    /// Slot length in a time unit whose day has `units_per_day` units, rounded down as the app
    /// does (`86400000 / max` on Android, `86400 / max` on iOS). At most 1440 slots, so the
    /// length is never zero for milliseconds or seconds.
    #[must_use]
    pub const fn slot_length(self, units_per_day: u64) -> u64 {
        units_per_day / self.0 as u64
    }

    /// The slot holding `ms_into_day` milliseconds after UTC midnight:
    /// `floor(ms_into_day / floor(86400000 / slots))`.
    ///
    /// # Errors
    /// [`BlidError::SlotOutOfRange`] when the slot length does not divide the day and the
    /// instant falls in the leftover piece at the end of the day (the app then indexed past its
    /// list). Never happens for the slot counts that divide 86 400 000, such as 96 and 144.
    pub const fn slot_of(self, ms_into_day: u64) -> Result<u32, BlidError> {
        let slot = ms_into_day / self.slot_length(DAY_MS);
        if slot < self.0 as u64 {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "below the slot count, a u16"
            )]
            Ok(slot as u32)
        } else {
            Err(BlidError::SlotOutOfRange {
                slot,
                slots: self.0 as u32,
            })
        }
    }
}

impl Default for SlotsPerDay {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u32> for SlotsPerDay {
    type Error = BlidError;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<SlotsPerDay> for u32 {
    fn from(value: SlotsPerDay) -> Self {
        value.get()
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

secret_bytes!(
    /// `DK_n`: the key of one UTC day. `DK_0` is the base key and `DK_{n+1} = SHA-256(DK_n)`
    /// (spec §blid.1). Secret on the owner's phone; an F0 list publishes some of them.
    DailyKey,
    32
);

impl DailyKey {
    /// The next day's key: `SHA-256(self)`.
    #[must_use]
    pub fn next(&self) -> Self {
        Self(sha256(&self.0))
    }

    /// The key `days` days later: `SHA-256^days(self)`.
    ///
    /// # Errors
    /// [`BlidError::TooFarFromBase`] past [`MAX_CHAIN_DAYS`].
    pub fn advance(&self, days: u32) -> Result<Self, BlidError> {
        if days > MAX_CHAIN_DAYS {
            return Err(BlidError::TooFarFromBase { days });
        }
        let mut key = self.clone();
        for _ in 0..days {
            key = key.next();
        }
        Ok(key)
    }

    /// The day's sub-keys in slot order: `SK_0 = SHA-256(DK ‖ "bluzonesubkey")`,
    /// `SK_{i+1} = SHA-256(SK_i)` (spec §blid.2). The iterator never ends; take as many as the
    /// day has slots.
    #[must_use]
    pub fn sub_keys(&self) -> SubKeys {
        let mut salted = [0u8; 32 + 13];
        let (key, salt) = salted.split_at_mut(32);
        key.copy_from_slice(&self.0);
        salt.copy_from_slice(SUBKEY_SALT);
        let first = SubKey(sha256(&salted));
        zeroize::Zeroize::zeroize(&mut salted);
        SubKeys { next: first }
    }

    /// The identifier of slot `slot` of this day (`slot + 1` hashes).
    #[must_use]
    pub fn identifier(&self, slot: u32) -> BluezoneId {
        let mut sub_keys = self.sub_keys();
        for _ in 0..slot {
            sub_keys.skip_one();
        }
        sub_keys.peek().identifier()
    }

    /// The identifiers of the day's first `out.len()` slots, in order, without allocating.
    pub fn identifiers_into(&self, out: &mut [BluezoneId]) {
        for (id, sub_key) in out.iter_mut().zip(self.sub_keys()) {
            *id = sub_key.identifier();
        }
    }
}

secret_bytes!(
    /// `SK_i`: the 32-byte key of one slot; its identifier is a selection of its bytes.
    SubKey,
    32
);

impl SubKey {
    /// `BLID = SK[0] SK[4] SK[8] SK[12] SK[16] SK[18] … SK[30]` (spec §blid.3).
    #[must_use]
    pub fn identifier(&self) -> BluezoneId {
        debug_assert!(ID_BYTE_POSITIONS.iter().all(|&p| p < 32));
        #[expect(
            clippy::indexing_slicing,
            reason = "every position is below 32, the sub-key's length"
        )]
        BluezoneId(ID_BYTE_POSITIONS.map(|position| self.0[position]))
    }
}

/// The sub-key chain of one day; see [`DailyKey::sub_keys`].
#[derive(Debug)]
pub struct SubKeys {
    next: SubKey,
}

impl SubKeys {
    fn peek(&self) -> &SubKey {
        &self.next
    }

    fn skip_one(&mut self) {
        self.next = SubKey(sha256(&self.next.0));
    }
}

impl Iterator for SubKeys {
    type Item = SubKey;

    fn next(&mut self) -> Option<SubKey> {
        let following = SubKey(sha256(&self.next.0));
        Some(core::mem::replace(&mut self.next, following))
    }
}

/// The root of a phone's identifiers: 32 random bytes and the UTC day they were created
/// (spec §blid.1). The app kept it until reinstalled and uploaded it with every report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseKey {
    day_zero: DailyKey,
    base_day: u32,
}

impl BaseKey {
    /// A base key from its bytes and its base day (days since the Unix epoch, UTC).
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32], base_day: u32) -> Self {
        Self {
            day_zero: DailyKey::from_bytes(bytes),
            base_day,
        }
    }

    /// A base key from its bytes and the base time the app stored with it (Unix seconds of
    /// the creation day's UTC midnight; any instant of that day gives the same day).
    ///
    /// # Errors
    /// [`BlidError::InstantOutOfRange`] for an instant whose day does not fit a `u32`.
    pub fn from_base_time(bytes: [u8; 32], base_time_s: u64) -> Result<Self, BlidError> {
        let day =
            u32::try_from(base_time_s / 86_400).map_err(|_| BlidError::InstantOutOfRange {
                unix_ms: base_time_s.saturating_mul(1000),
            })?;
        Ok(Self::from_bytes(bytes, day))
    }

    /// A fresh base key from the caller's cryptographic random number generator.
    pub fn generate_with_rng<R: CryptoRng + ?Sized>(rng: &mut R, base_day: u32) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        let key = Self::from_bytes(bytes, base_day);
        zeroize::Zeroize::zeroize(&mut bytes);
        key
    }

    /// The key bytes (`DK_0`). Handle with care: uploading it, as the app did, lets the
    /// receiver follow every identifier the phone will ever send.
    #[must_use]
    pub const fn expose_secret(&self) -> &[u8; 32] {
        self.day_zero.expose_secret()
    }

    /// The base day (days since the Unix epoch, UTC).
    #[must_use]
    pub const fn base_day(&self) -> u32 {
        self.base_day
    }

    /// The base time as the app stored it: Unix seconds of the base day's midnight.
    #[must_use]
    pub const fn base_time_s(&self) -> u64 {
        self.base_day as u64 * 86_400
    }

    /// `DK_n` for the UTC day `day` (days since the epoch), `n = day − base_day`.
    ///
    /// # Errors
    /// [`BlidError::BeforeBaseDay`] for a day before the base day;
    /// [`BlidError::TooFarFromBase`] more than [`MAX_CHAIN_DAYS`] after it.
    pub fn daily_key(&self, day: u32) -> Result<DailyKey, BlidError> {
        let days = day
            .checked_sub(self.base_day)
            .ok_or(BlidError::BeforeBaseDay {
                day,
                base_day: self.base_day,
            })?;
        self.day_zero.advance(days)
    }

    /// The identifier the phone broadcast at `unix_ms` (spec §blid.4).
    ///
    /// # Errors
    /// An instant before the base day, too far after it, or in a leftover piece of the day
    /// (see [`SlotsPerDay::slot_of`]).
    pub fn identifier_at(&self, unix_ms: u64, slots: SlotsPerDay) -> Result<BluezoneId, BlidError> {
        let day = u32::try_from(unix_ms / DAY_MS)
            .map_err(|_| BlidError::InstantOutOfRange { unix_ms })?;
        let slot = slots.slot_of(unix_ms % DAY_MS)?;
        Ok(self.daily_key(day)?.identifier(slot))
    }

    /// All identifiers of the UTC day `day` into `out`, which must hold `slots` entries;
    /// returns the filled part.
    ///
    /// # Errors
    /// [`BlidError::BufferTooSmall`], or the errors of [`Self::daily_key`].
    pub fn day_identifiers<'a>(
        &self,
        day: u32,
        slots: SlotsPerDay,
        out: &'a mut [BluezoneId],
    ) -> Result<&'a [BluezoneId], BlidError> {
        let available = out.len();
        let filled = out
            .get_mut(..slots.get() as usize)
            .ok_or(BlidError::BufferTooSmall {
                needed: slots.get() as usize,
                available,
            })?;
        self.daily_key(day)?.identifiers_into(filled);
        Ok(filled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn captured_key() -> BaseKey {
        let bytes = crate::hex::decode_array(
            "4C5224B397F8AB3896781D5AA0F3119F280513F1B592CA280EBDED6357E21084",
        )
        .unwrap();
        BaseKey::from_base_time(bytes, 1_596_844_800).unwrap()
    }

    #[test]
    /// Checks spec §blid.1, §blid.2, §blid.3.
    fn captured_identifier() {
        // Advertised by a real Android Bluezone 2.0.4 phone (thaidn/bluezone).
        let id = captured_key()
            .identifier_at(1_596_866_191_387, SlotsPerDay::DEFAULT)
            .unwrap();
        assert_eq!(std::format!("{id}"), "B9A665D754FE65E665D76A45");
    }

    #[test]
    /// Checks spec §blid.4.
    fn instants_before_or_far_after_the_base_day_are_errors() {
        let key = captured_key();
        assert_eq!(
            key.identifier_at(1_596_844_799_999, SlotsPerDay::DEFAULT),
            Err(BlidError::BeforeBaseDay {
                day: 18_481,
                base_day: 18_482
            })
        );
        assert!(matches!(
            key.identifier_at(u64::MAX, SlotsPerDay::DEFAULT),
            Err(BlidError::InstantOutOfRange { .. } | BlidError::TooFarFromBase { .. })
        ));
        let far = (u64::from(key.base_day()) + u64::from(MAX_CHAIN_DAYS) + 1) * DAY_MS;
        assert!(matches!(
            key.identifier_at(far, SlotsPerDay::DEFAULT),
            Err(BlidError::TooFarFromBase { .. })
        ));
    }

    #[test]
    /// Checks spec §blid.4.
    fn uneven_slot_counts_refuse_the_leftover() {
        let seven = SlotsPerDay::new(7).unwrap();
        // 86400000 / 7 = 12342857 ms: seven slots cover 0..=86399998 and leave the last ms over.
        assert_eq!(seven.slot_of(DAY_MS - 2), Ok(6));
        assert_eq!(
            seven.slot_of(DAY_MS - 1),
            Err(BlidError::SlotOutOfRange { slot: 7, slots: 7 })
        );
        assert_eq!(SlotsPerDay::new(0), Err(BlidError::SlotsPerDay(0)));
        assert_eq!(SlotsPerDay::new(1441), Err(BlidError::SlotsPerDay(1441)));
    }

    #[test]
    /// Checks spec §blid.2, §blid.3, §blid.4.
    fn a_whole_day_matches_slot_by_slot() {
        let key = captured_key();
        let mut out = [BluezoneId::default(); 96];
        let day = key.base_day() + 3;
        let ids = key
            .day_identifiers(day, SlotsPerDay::DEFAULT, &mut out)
            .unwrap();
        let daily = key.daily_key(day).unwrap();
        for (slot, id) in (0u32..).zip(ids) {
            assert_eq!(*id, daily.identifier(slot));
        }
        let mut short = [BluezoneId::default(); 95];
        assert_eq!(
            key.day_identifiers(day, SlotsPerDay::DEFAULT, &mut short),
            Err(BlidError::BufferTooSmall {
                needed: 96,
                available: 95
            })
        );
    }
}
