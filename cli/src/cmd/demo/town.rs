//! The town: households, workplaces, shops and transport, and who meets whom, when, how close.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;

/// The first simulated day: 2021-03-01.
pub const FIRST_DAY: u64 = 18_687;

/// One encounter between two people.
pub struct Contact {
    pub a: u32,
    pub b: u32,
    /// Unix seconds.
    pub start: u64,
    pub seconds: u32,
    pub meters: f32,
    /// At home (a household's evening): a phone left at home still sees it.
    pub at_home: bool,
}

impl Contact {
    /// The simulated day of the encounter, 0 for the first.
    pub const fn day(&self) -> usize {
        (self.start / 86_400).saturating_sub(FIRST_DAY) as usize
    }

    /// The other person of the encounter.
    pub const fn other(&self, person: u32) -> u32 {
        if self.a == person { self.b } else { self.a }
    }
}

/// A uniform number in [0, 1).
pub fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform number in 0..n (0 when n is 0).
pub fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// Small, fast, reproducible randomness for what is drawn per encounter and per scan
/// (SplitMix64): the same encounter gives the same signal whatever order phones are run in and
/// whichever adoption level is run.
pub struct Noise(u64);

impl Noise {
    /// The stream of one (seed, encounter, direction).
    pub const fn new(seed: u64, contact: u64, direction: u64) -> Self {
        Self(
            seed ^ contact.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                ^ direction.wrapping_mul(0xD1B5_4A32_D192_ED03),
        )
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Path loss of the simulated world: free space at 2.44 GHz, 9 dB of body loss, 2 dB noise.
pub fn attenuation(meters: f32, noise: &mut Noise) -> i16 {
    let jitter = (0..4).map(|_| noise.uniform() - 0.5).sum::<f64>() * 2.0 * 1.7;
    (40.2 + 20.0 * f64::from(meters).log10() + 9.0 + jitter).round() as i16
}

/// The town's encounters over `days` days.
pub fn simulate(people: usize, days: u64, rng: &mut ChaCha20Rng) -> Vec<Contact> {
    let mut contacts = Vec::new();
    let id = |p: usize| p as u32;
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
                        a: id(a),
                        b: id(b),
                        start: midnight + 18 * 3600 + below(rng, 1800) as u64,
                        seconds: 3 * 3600 + below(rng, 3600) as u32,
                        meters: 0.6 + uniform(rng) as f32 * 0.6,
                        at_home: true,
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
                                a: id(a),
                                b: id(b),
                                start: midnight + 9 * 3600,
                                seconds: 2 * 3600 + below(rng, 2 * 3600) as u32,
                                meters: 1.6 + uniform(rng) as f32 * 1.4,
                                at_home: false,
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
                        a: id(a),
                        b: id(b),
                        start: midnight + 8 * 3600 + below(rng, 10 * 3600) as u64,
                        seconds: 300 + below(rng, 900) as u32,
                        meters: 1.0 + uniform(rng) as f32 * 4.0,
                        at_home: false,
                    });
                }
            }
        }
    }
    contacts
}

/// Each person's encounters, as indexes into the town's list (compressed rows).
pub struct Encounters {
    offsets: Vec<u32>,
    contacts: Vec<u32>,
}

impl Encounters {
    pub fn new(people: usize, contacts: &[Contact]) -> Self {
        let mut counts = vec![0u32; people + 1];
        for c in contacts {
            for p in [c.a, c.b] {
                if let Some(n) = counts.get_mut(p as usize + 1) {
                    *n += 1;
                }
            }
        }
        for i in 1..counts.len() {
            let before = counts.get(i - 1).copied().unwrap_or(0);
            if let Some(n) = counts.get_mut(i) {
                *n += before;
            }
        }
        let mut fill = counts.clone();
        let mut list = vec![0u32; contacts.len() * 2];
        for (index, c) in (0u32..).zip(contacts) {
            for p in [c.a, c.b] {
                if let Some(at) = fill.get_mut(p as usize) {
                    if let Some(slot) = list.get_mut(*at as usize) {
                        *slot = index;
                    }
                    *at += 1;
                }
            }
        }
        Self {
            offsets: counts,
            contacts: list,
        }
    }

    /// The encounters of `person`, in the town's order.
    pub fn of(&self, person: usize) -> &[u32] {
        let from = self.offsets.get(person).copied().unwrap_or(0) as usize;
        let to = self.offsets.get(person + 1).copied().unwrap_or(0) as usize;
        self.contacts.get(from..to).unwrap_or_default()
    }
}
