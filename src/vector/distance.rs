//! Distance kernels: simsimd's SIMD dot product on L2-normalised vectors, with scalar references
//! used by the benches and tests.
//!
//! Every stored vector is L2-normalised on the way in, so cosine distance is `1 - dot`.

use simsimd::SpatialSimilarity;

use super::error::{Result, VectorError};

/// Inner product of two equal-length vectors, SIMD-accelerated.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    match <f32 as SpatialSimilarity>::dot(a, b) {
        Some(d) => d as f32,
        None => scalar_dot(a, b),
    }
}

/// Inner product of two equal-length byte-coded vectors, SIMD-accelerated (exact: an
/// integer sum).
#[inline]
pub fn dot_i8(a: &[i8], b: &[i8]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    match <i8 as SpatialSimilarity>::dot(a, b) {
        Some(d) => d as f32,
        None => scalar_dot_i8(a, b) as f32,
    }
}

/// Plain-loop inner product of byte codes.
pub fn scalar_dot_i8(a: &[i8], b: &[i8]) -> i64 {
    a.iter().zip(b).map(|(x, y)| *x as i64 * *y as i64).sum()
}

/// Cosine distance of two L2-normalised vectors: `1 - a·b`, clamped to `[0, 2]`.
#[inline]
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    (1.0 - dot(a, b)).clamp(0.0, 2.0)
}

/// Plain-loop inner product (the reference the SIMD kernel is checked against).
pub fn scalar_dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Cosine distance computed the way hnsw_rs's `DistCosine` does: an f64 loop with norms.
pub fn scalar_cosine_distance(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (*x as f64, *y as f64);
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa <= 0.0 || bb <= 0.0 {
        return 1.0;
    }
    (1.0 - ab / (aa.sqrt() * bb.sqrt())).max(0.0) as f32
}

/// Checks a vector (dimension, finiteness, non-zero norm) and returns it L2-normalised.
pub fn normalized(name: &str, v: &[f32], dim: usize) -> Result<Vec<f32>> {
    if v.len() != dim {
        return Err(VectorError::DimensionMismatch {
            name: name.to_string(),
            expected: dim,
            got: v.len(),
        });
    }
    let mut norm2 = 0f64;
    for x in v {
        if !x.is_finite() {
            return Err(VectorError::NonFinite(name.to_string()));
        }
        norm2 += (*x as f64) * (*x as f64);
    }
    if v.is_empty() || norm2 == 0.0 || !norm2.is_finite() {
        return Err(VectorError::ZeroVector(name.to_string()));
    }
    let inv = (1.0 / norm2.sqrt()) as f32;
    let out: Vec<f32> = v.iter().map(|x| x * inv).collect();
    if out.iter().any(|x| !x.is_finite()) {
        return Err(VectorError::ZeroVector(name.to_string()));
    }
    Ok(out)
}

/// hnsw_rs distance adaptor so its graph build uses the same SIMD kernel as our search.
#[derive(Clone, Copy, Default)]
pub struct SimdDot;

impl hnsw_rs::prelude::Distance<f32> for SimdDot {
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        cosine_distance(va, vb)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_matches_scalar() {
        let a: Vec<f32> = (0..384)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0)
            .collect();
        let b: Vec<f32> = (0..384)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 10.0)
            .collect();
        let a = normalized("a", &a, 384).unwrap();
        let b = normalized("b", &b, 384).unwrap();
        assert!((cosine_distance(&a, &b) - scalar_cosine_distance(&a, &b)).abs() < 1e-5);
        assert!(cosine_distance(&a, &a) < 1e-5);
    }

    #[test]
    fn byte_dot_is_the_integer_sum() {
        for dim in [1usize, 7, 64, 384, 1000] {
            let a: Vec<i8> = (0..dim)
                .map(|i| ((i * 37 % 255) as i32 - 127) as i8)
                .collect();
            let b: Vec<i8> = (0..dim)
                .map(|i| ((i * 91 % 255) as i32 - 127) as i8)
                .collect();
            assert_eq!(dot_i8(&a, &b), scalar_dot_i8(&a, &b) as f32, "dim {dim}");
            let full = vec![127i8; dim];
            let neg = vec![-127i8; dim];
            assert_eq!(dot_i8(&full, &neg), -(127 * 127 * dim as i64) as f32);
        }
    }

    #[test]
    fn rejects_bad_vectors() {
        assert!(matches!(
            normalized("v", &[1.0, 2.0], 3),
            Err(VectorError::DimensionMismatch { .. })
        ));
        assert!(matches!(
            normalized("v", &[f32::NAN, 1.0], 2),
            Err(VectorError::NonFinite(_))
        ));
        assert!(matches!(
            normalized("v", &[0.0, 0.0], 2),
            Err(VectorError::ZeroVector(_))
        ));
        assert!(matches!(
            normalized("v", &[f32::MAX, f32::MAX], 2),
            Ok(_) | Err(VectorError::ZeroVector(_))
        ));
    }
}
