//! The `jobfirst-ai eval-ann` command, run as a user would: files in, JSON lines out.

use std::process::Command;

use jobfirst_ai::eval::texmex::{write_fvecs, write_ivecs};

fn unit(seed: u64, dim: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 2000) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / n).collect()
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_jobfirst-ai"))
}

#[test]
fn eval_ann_prints_one_json_row_per_ef_and_selectivity() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 16;
    let base: Vec<f32> = (0..1500).flat_map(|i| unit(i, dim)).collect();
    let queries: Vec<f32> = (0..20).flat_map(|i| unit(10_000 + i, dim)).collect();
    write_fvecs(&dir.path().join("b.fvecs"), dim, &base).unwrap();
    write_fvecs(&dir.path().join("q.fvecs"), dim, &queries).unwrap();
    let out = bin()
        .args(["eval-ann", "--base"])
        .arg(dir.path().join("b.fvecs"))
        .arg("--queries")
        .arg(dir.path().join("q.fvecs"))
        .args([
            "--ef",
            "16,64",
            "--filter-selectivity",
            "1,0.01",
            "--threads",
            "1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        for key in [
            "recall", "mean_us", "p50_us", "p99_us", "qps", "build_s", "rss_mb",
        ] {
            assert!(r[key].is_number(), "{key} missing in {r}");
        }
        let paths = &r["path_counts"];
        let total: u64 = ["graph", "graph_filtered", "exact", "exact_fallback"]
            .iter()
            .map(|p| paths[p].as_u64().unwrap())
            .sum();
        assert_eq!(total, 20);
    }
    // Exact ground truth was computed; the graph at ef 64 finds it, the 1% filter is exact.
    assert!(rows[1]["recall"].as_f64().unwrap() >= 0.95, "{}", rows[1]);
    assert_eq!(rows[2]["selectivity"].as_f64().unwrap(), 0.01);
    assert_eq!(rows[2]["recall"].as_f64().unwrap(), 1.0);
    assert_eq!(rows[2]["path_counts"]["exact"].as_u64().unwrap(), 20);
}

#[test]
fn eval_ann_names_the_bad_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("q.fvecs");
    write_fvecs(&good, 4, &unit(1, 4)).unwrap();
    let bad = dir.path().join("truncated.fvecs");
    std::fs::write(&bad, &std::fs::read(&good).unwrap()[..10]).unwrap();
    let out = bin()
        .arg("eval-ann")
        .arg("--base")
        .arg(&bad)
        .arg("--queries")
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("truncated.fvecs") && err.contains("truncated"),
        "{err}"
    );

    let gt = dir.path().join("gt.ivecs");
    write_ivecs(&gt, 1, &[5]).unwrap(); // id 5 does not exist in a 1-vector base
    let out = bin()
        .arg("eval-ann")
        .arg("--base")
        .arg(&good)
        .arg("--queries")
        .arg(&good)
        .arg("--gt")
        .arg(&gt)
        .args(["--k", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("gt.ivecs") && err.contains("out of range"),
        "{err}"
    );
}
