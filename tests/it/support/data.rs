//! Deterministic test vectors shared by the engine-level test files (included with `#[path]`).

/// A `dim`-long vector of values in [-0.5, 0.5) from a xorshift64 stream seeded with `x` (not
/// normalised: the engine does that). The same seed always gives the same vector.
pub fn xorshift_vector(mut x: u64, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f32 / 1000.0 - 0.5
        })
        .collect()
}
