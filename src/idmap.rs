//! A hash map for entity ids: `u64` keys hashed with one multiplication (Fibonacci hashing)
//! instead of SipHash. Ids are ours, not an attacker's choice of colliding strings, and the
//! maps keyed by them sit on the search hot path (live positions, feature caches).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Hasher for integer keys: the key times the 64-bit golden ratio (a bijection, so distinct
/// ids never collide in the full hash; hashbrown's bucket and tag bits are both well mixed).
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IdHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; correct (if slower) for anything else.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(K);
    }

    #[inline]
    fn write_u32(&mut self, x: u32) {
        self.write_u64(u64::from(x));
    }

    #[inline]
    fn finish(&self) -> u64 {
        // Fold the high half down: hashbrown takes the bucket index from the low bits.
        self.0 ^ (self.0 >> 29)
    }
}

/// `HashMap<u64, V>` with [`IdHasher`].
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map() {
        let mut m: IdMap<u32> = IdMap::default();
        for i in 0..10_000u64 {
            m.insert(i * 4096, i as u32);
        }
        for i in 0..10_000u64 {
            assert_eq!(m.get(&(i * 4096)), Some(&(i as u32)));
        }
        assert_eq!(m.get(&1), None);
        assert_eq!(m.len(), 10_000);
    }
}
