//! The town: households, workplaces, shops and transport, and who meets whom, when, how close.

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;

/// The first simulated day: 2021-03-01.
pub const FIRST_DAY: u64 = 18_687;

/// One encounter between two people.
pub struct Contact {
    pub a: usize,
    pub b: usize,
    /// Unix seconds.
    pub start: u64,
    pub seconds: u64,
    pub meters: f64,
}

/// A uniform number in [0, 1).
pub fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform number in 0..n (0 when n is 0).
pub fn below(rng: &mut ChaCha20Rng, n: usize) -> usize {
    (rng.next_u64() % n.max(1) as u64) as usize
}

/// Path loss of the simulated world: free space at 2.44 GHz, 9 dB of body loss, 2 dB noise.
pub fn attenuation(meters: f64, rng: &mut ChaCha20Rng) -> i16 {
    let noise = (0..4).map(|_| uniform(rng) - 0.5).sum::<f64>() * 2.0 * 1.7;
    (40.2 + 20.0 * meters.log10() + 9.0 + noise).round() as i16
}

/// The town's encounters over `days` days.
pub fn simulate(people: usize, days: u64, rng: &mut ChaCha20Rng) -> Vec<Contact> {
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
