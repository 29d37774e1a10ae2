//! Reproducible train/test splits: a seeded shuffle (SplitMix64 driving Fisher–Yates), so another
//! language can draw the same split from the same seed.

/// SplitMix64: a small, well-known generator whose output is the same everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1) (53 random bits).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer below `n` (`n` > 0; the modulo bias is below 2^-40 for the sizes used here).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// `0..n` shuffled with Fisher–Yates from the back, drawing `j = below(i + 1)`.
pub fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut idx: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.below(i + 1);
        idx.swap(i, j);
    }
    idx
}

/// Row indices for training and for testing: the first `round(n * train_share)` of the shuffle train
/// (at least one row on each side when `n >= 2`).
pub fn train_test(n: usize, train_share: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let idx = shuffled(n, seed);
    let k = ((n as f64) * train_share).round() as usize;
    let k = if n >= 2 { k.clamp(1, n - 1) } else { n };
    (idx[..k].to_vec(), idx[k..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_is_a_partition_and_reproducible() {
        let (a, b) = train_test(10, 0.8, 7);
        assert_eq!((a.len(), b.len()), (8, 2));
        let mut all: Vec<usize> = a.iter().chain(&b).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(train_test(10, 0.8, 7), (a, b));
        assert_ne!(shuffled(50, 1), shuffled(50, 2));
        // The first outputs of SplitMix64 from seed 0 (the reference implementation's values).
        let mut r = SplitMix64::new(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }
}
