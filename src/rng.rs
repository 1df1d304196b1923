//! SplitMix64 (Steele, Lea & Flood 2014): a tiny deterministic generator whose output is the
//! same on every platform and never changes with a dependency's version — what stored data
//! (the sample set, the evaluation sets, the built-in embedder's vectors for unknown words)
//! must be generated with.

/// The generator; its state is the seed advanced once per draw.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_reference_sequence() {
        // The first outputs for seed 1234567 in the reference implementation (prng.di.unimi.it).
        let mut r = super::SplitMix64(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
    }
}
