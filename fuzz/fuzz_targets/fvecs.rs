//! The TEXMEX `.fvecs` / `.ivecs` readers and the `eval-ann` input checks.
//!
//! Input layout: the first byte picks a mode.
//! * even: the rest is one file, parsed as `.fvecs` and as `.ivecs`; every success must be
//!   self-consistent (whole records, finite floats, non-negative ids).
//! * odd: the rest is split in three (base, queries, ground truth) at two 16-bit offsets and
//!   handed to `eval::ann::run` as files — it must answer with rows or an error, never panic.
//!   Kept tiny (the graph build is the expensive part) so the fuzzer stays fast.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use jobfirst_ai::eval::ann::{run, AnnEvalConfig};
use jobfirst_ai::eval::texmex::{parse_fvecs, parse_ivecs, read_fvecs, read_ivecs, Matrix};
use libfuzzer_sys::fuzz_target;

/// Largest input handed to the evaluation (its cost grows with the base size).
const MAX_EVAL_BYTES: usize = 4096;

fn check<T>(m: &Matrix<T>, len: usize) {
    assert!(m.dim >= 1, "dimension 0 accepted");
    assert_eq!(m.data.len() % m.dim, 0, "partial row");
    assert_eq!(
        m.rows() * (4 + 4 * m.dim),
        len,
        "rows do not cover the input"
    );
    for i in 0..m.rows() {
        assert_eq!(m.row(i).len(), m.dim);
    }
}

fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("temp dir"))
        .path()
}

fn eval(rest: &[u8]) {
    if rest.len() < 4 || rest.len() > MAX_EVAL_BYTES {
        return;
    }
    let a = u16::from_le_bytes([rest[0], rest[1]]) as usize;
    let b = u16::from_le_bytes([rest[2], rest[3]]) as usize;
    let body = &rest[4..];
    let a = a.min(body.len());
    let b = b.min(body.len() - a);
    let (base, tail) = body.split_at(a);
    let (queries, gt) = tail.split_at(b);
    let (bp, qp, gp) = (
        dir().join("base.fvecs"),
        dir().join("queries.fvecs"),
        dir().join("gt.ivecs"),
    );
    std::fs::write(&bp, base).unwrap();
    std::fs::write(&qp, queries).unwrap();
    std::fs::write(&gp, gt).unwrap();
    // The readers must agree with the parsers on the same bytes.
    assert_eq!(
        read_fvecs(&bp).ok(),
        parse_fvecs(&bp, base).ok(),
        "read and parse disagree"
    );
    assert_eq!(read_ivecs(&gp).ok(), parse_ivecs(&gp, gt).ok());
    let k = (rest[0] as usize % 4) + 1;
    let cfg = AnnEvalConfig {
        base: bp,
        queries: qp,
        gt: (!gt.is_empty()).then_some(gp),
        k,
        ef: vec![k + (rest[1] as usize % 8)],
        m: 4,
        ef_construction: 16,
        selectivities: vec![1.0, 0.5],
        threads: 1,
        refine_passes: (rest[2] % 2) as usize,
        seed: 1,
    };
    if let Ok(rows) = run(&cfg, |_| {}) {
        for r in rows {
            assert!((0.0..=1.0).contains(&r.recall), "recall {}", r.recall);
            assert_eq!(r.k, k);
        }
    }
}

fn record<T: Copy>(dim: usize, values: &[T], enc: impl Fn(T) -> [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    for row in values.chunks(dim) {
        out.extend_from_slice(&(dim as i32).to_le_bytes());
        for v in row {
            out.extend_from_slice(&enc(*v));
        }
    }
    out
}

/// Valid files as seeds (`JOBFIRST_FUZZ_SEEDS=<dir>`).
fn write_seeds() {
    let Some(dir) = std::env::var_os("JOBFIRST_FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).expect("seed dir");
    let f = |v: f32| v.to_le_bytes();
    let i = |v: u32| v.to_le_bytes();
    let mut one = vec![0u8];
    one.extend(record(3, &[1.0, 2.0, 3.0, -4.0, 0.5, 6.0], f));
    std::fs::write(dir.join("fvecs"), one).expect("seed");
    let mut gt = vec![0u8];
    gt.extend(record(2, &[0u32, 1, 3, 2], i));
    std::fs::write(dir.join("ivecs"), gt).expect("seed");
    let base: Vec<f32> = (0..32).map(|x| ((x * 7 % 11) as f32) - 5.0).collect();
    let base = record(4, &base, f);
    let queries = record(4, &[1.0, 0.0, 0.5, -1.0, 0.0, 2.0, 1.0, 1.0], f);
    let truth = record(2, &[0u32, 1, 2, 3], i);
    let mut eval = vec![1u8];
    eval.extend_from_slice(&(base.len() as u16).to_le_bytes());
    eval.extend_from_slice(&(queries.len() as u16).to_le_bytes());
    eval.extend(base);
    eval.extend(queries);
    eval.extend(truth);
    std::fs::write(dir.join("eval"), eval).expect("seed");
}

fuzz_target!(init: { write_seeds(); }, |data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        eval(rest);
        return;
    }
    let p = Path::new("fuzz.fvecs");
    if let Ok(m) = parse_fvecs(p, rest) {
        check(&m, rest.len());
        assert!(m.data.iter().all(|x| x.is_finite()));
    }
    if let Ok(m) = parse_ivecs(p, rest) {
        check(&m, rest.len());
        assert!(m.data.iter().all(|x| *x <= i32::MAX as u32));
    }
});
