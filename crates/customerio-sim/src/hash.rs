//! A tiny deterministic mixer: every simulated value is a pure function of the seed, the
//! workspace and the item's coordinates, so any item can be produced on demand, in any order.

/// The splitmix64 finaliser: a fast bijective 64-bit mixer.
pub(crate) const fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A position in the hash tree: extend it with the coordinates of a value, then read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Key(u64);

impl Key {
    /// The root key of a seed.
    pub(crate) const fn new(seed: u64) -> Self {
        Key(splitmix(seed))
    }

    /// This key extended with a string coordinate (FNV-1a folded, then mixed).
    pub(crate) fn str(self, s: &str) -> Self {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for b in s.as_bytes() {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01B3);
        }
        self.u64(h)
    }

    /// This key extended with an integer coordinate.
    pub(crate) const fn u64(self, v: u64) -> Self {
        Key(splitmix(self.0 ^ splitmix(v ^ 0x5851_F42D_4C95_7F2D)))
    }

    /// This key extended with a signed integer coordinate (timestamps).
    pub(crate) const fn i64(self, v: i64) -> Self {
        self.u64(v as u64)
    }

    /// The 64 raw bits at this key.
    pub(crate) const fn bits(self) -> u64 {
        self.0
    }

    /// A uniform number in `[0, 1)`.
    pub(crate) fn unit(self) -> f64 {
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `0..n` (`0` when `n` is `0`).
    pub(crate) fn below(self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            ((u128::from(self.0) * u128::from(n)) >> 64) as u64
        }
    }

    /// A uniform integer in `lo..=hi`.
    pub(crate) fn range(self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            lo
        } else {
            lo + self.below((hi - lo) as u64 + 1) as i64
        }
    }

    /// `true` with probability `p`.
    pub(crate) fn chance(self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub(crate) fn pick<T: Copy>(self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_coordinates_same_bits_and_different_coordinates_differ() {
        let a = Key::new(42).str("sim_us").str("campaign").u64(3);
        let b = Key::new(42).str("sim_us").str("campaign").u64(3);
        assert_eq!(a, b);
        assert_ne!(a, Key::new(42).str("sim_eu").str("campaign").u64(3));
        assert_ne!(a, Key::new(43).str("sim_us").str("campaign").u64(3));
        assert_ne!(a, Key::new(42).str("sim_us").str("campaign").u64(4));
    }

    #[test]
    fn helpers_stay_in_range() {
        for i in 0..10_000u64 {
            let k = Key::new(7).u64(i);
            assert!((0.0..1.0).contains(&k.unit()));
            assert!(k.below(10) < 10);
            let r = k.range(-3, 3);
            assert!((-3..=3).contains(&r));
            assert_eq!(k.below(0), 0);
        }
    }
}
