//! `eval-recommend` end to end on a small generated set: sane metrics, the re-ranker at least
//! as good as semantic-only, the same figures for the same seed, and bad settings refused.

use jobfirst_ai::eval::recommend::{
    default_modes, run, summary, GenConfig, ModeRow, RecommendEvalConfig, RecommendEvalError,
};

fn config(seed: u64) -> RecommendEvalConfig {
    RecommendEvalConfig {
        // Fewer jobs than the engine's exact-scanned tail: no graph build, so the candidate
        // stage is exact and the run fully deterministic.
        data: GenConfig {
            jobs: 800,
            resumes: 60,
            cities: 4,
            seed,
        },
        modes: default_modes(true),
        data_dir: None,
        concurrency: 4,
    }
}

fn metrics(r: &ModeRow) -> [f64; 7] {
    [
        r.ndcg_at_10,
        r.recall_at_10,
        r.mrr,
        r.same_occupation_at_10,
        r.place_fit_at_10,
        r.grade2_at_10,
        r.remote_at_10,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_run_is_sane_and_deterministic() {
    let cfg = config(5);
    let mut emitted = Vec::new();
    let a = run(&cfg, |row| emitted.push(row.mode.clone()))
        .await
        .expect("the evaluation runs");
    let names: Vec<&str> = cfg.modes.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(emitted, names, "one row per mode, in order");
    assert_eq!(a.rows.len(), cfg.modes.len());
    for r in &a.rows {
        assert_eq!(r.k, 10);
        assert!(r.queries > 0 && r.queries <= 60, "{r:?}");
        assert_eq!(r.queries + a.skipped_resumes, 60);
        for m in metrics(r) {
            assert!((0.0..=1.0).contains(&m), "{r:?}");
        }
        assert!(r.ndcg_at_10 > 0.0, "{r:?}");
    }
    for x in [
        a.candidate_recall,
        a.candidate_recall_grade2,
        a.oracle_ndcg_at_10,
    ] {
        assert!((0.0..=1.0).contains(&x), "{a:?}");
    }
    let row = |name: &str| a.rows.iter().find(|r| r.mode == name).unwrap();
    let (full, semantic) = (row("full"), row("semantic-only"));
    assert!(
        full.ndcg_at_10 >= semantic.ndcg_at_10,
        "full {full:?} vs semantic-only {semantic:?}"
    );
    // No mode beats a perfect re-ranking of the candidates.
    for r in &a.rows {
        assert!(r.ndcg_at_10 <= a.oracle_ndcg_at_10 + 1e-9, "{r:?} {a:?}");
    }

    let b = run(&cfg, |_| {}).await.expect("the evaluation runs again");
    for (x, y) in a.rows.iter().zip(&b.rows) {
        assert_eq!(x.mode, y.mode);
        assert_eq!(metrics(x), metrics(y), "same seed, same figures");
        assert_eq!(x.queries, y.queries);
    }
    assert_eq!(a.oracle_ndcg_at_10, b.oracle_ndcg_at_10);

    let text = summary(&cfg, &a);
    for name in names {
        assert!(text.contains(name), "{text}");
    }
    assert!(text.contains("nDCG@10"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused() {
    for change in [
        |c: &mut RecommendEvalConfig| c.data.cities = 0,
        |c: &mut RecommendEvalConfig| c.data.cities = 17,
        |c: &mut RecommendEvalConfig| c.data.jobs = 0,
        |c: &mut RecommendEvalConfig| c.data.resumes = 0,
        |c: &mut RecommendEvalConfig| c.modes.clear(),
    ] {
        let mut cfg = config(1);
        change(&mut cfg);
        let err = run(&cfg, |_| {}).await.unwrap_err();
        assert!(matches!(err, RecommendEvalError::Invalid(_)), "{err}");
    }
    // A data dir that already holds something is not used.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let mut cfg = config(1);
    cfg.data_dir = Some(dir.path().to_path_buf());
    let err = run(&cfg, |_| {}).await.unwrap_err();
    assert!(matches!(err, RecommendEvalError::Invalid(_)), "{err}");
    assert!(dir.path().join("keep.txt").exists());
}
