//! The index-file loader, through the public API: a crafted `index/jobs.idx` is put beside a
//! real redb store and the engine is opened on it. Whatever the file holds, the engine must
//! open (using the file or rebuilding from redb), keep exactly the store's live entities, and
//! answer searches with live, distinct ids — no panic, no UB, no absurd allocation.
//!
//! The first input byte picks how the rest becomes the file:
//! * `0`: raw — the bytes are the file as is (checksums, magic, store id all fuzzed);
//! * `1`: raw with fix-ups — magic, version, store id, body length and both CRCs are made
//!   valid so the fuzzer reaches the structural checks behind them;
//! * `2`: edits of a real index file of this store (structure-aware): the rest is a list of
//!   5-byte edits `(op, offset: u16 scaled to the file, value: u16)` applied to the valid file,
//!   then the checksums are recomputed (unless the last op says not to).
//!
//! With `JOBFIRST_FUZZ_SEEDS=<dir>` set, the valid file is written there as seeds at start.

#![no_main]

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jobfirst_ai::vector::{
    Collection, Engine, EngineOptions, EntityUpsert, Filter, Payload, SearchRequest,
};
use libfuzzer_sys::fuzz_target;

const JOBS: Collection = Collection::Jobs;
const DIM: usize = 8;
const N: u64 = 48;
const HEADER_LEN: usize = 128;

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    index: PathBuf,
    good: Vec<u8>,
    live: BTreeSet<u64>,
    options: EngineOptions,
}

fn options() -> EngineOptions {
    EngineOptions {
        tail_limit: 1_000,
        background_rebuild: false,
        ..EngineOptions::default()
    }
}

fn vector(id: u64, name: usize, variant: u64) -> Vec<f32> {
    let mut x = id
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add((name as u64) << 32)
        .wrapping_add(variant);
    (0..DIM)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f32 / 1000.0 - 0.5
        })
        .collect()
}

fn entity(id: u64, variant: u64) -> EntityUpsert {
    let vectors: HashMap<String, Vec<f32>> = JOBS
        .vector_names()
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), vector(id, i, variant)))
        .collect();
    EntityUpsert {
        id,
        vectors,
        payload: Payload::new()
            .with("bucket", format!("b{}", id % 4).as_str())
            .with("salary", (id * 1000) as f64),
        document: serde_json::json!({ "id": id }),
    }
}

fn tmp_root() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let tmp = tempfile::Builder::new()
            .prefix("fuzz-index-file")
            .tempdir_in(tmp_root())
            .expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let options = options();
        let live = {
            let engine = Engine::open(&dir, options).expect("engine opens");
            let model = "fuzz-model";
            engine
                .upsert_batch(JOBS, model, (1..=N).map(|id| entity(id, 0)).collect())
                .expect("upsert");
            engine.rebuild(JOBS).expect("rebuild");
            // After the file: an update, a delete and inserts, so a load mixes the file, the
            // tail from redb and tombstones.
            engine.upsert(JOBS, model, entity(6, 1)).expect("update");
            engine.delete(JOBS, 5).expect("delete");
            for id in N + 1..=N + 4 {
                engine.upsert(JOBS, model, entity(id, 0)).expect("insert");
            }
            engine.ids(JOBS).into_iter().collect::<BTreeSet<u64>>()
        };
        let index = dir.join("index").join("jobs.idx");
        let good = std::fs::read(&index).expect("index file written by the rebuild");
        if let Some(seeds) = std::env::var_os("JOBFIRST_FUZZ_SEEDS") {
            let seeds = PathBuf::from(seeds);
            std::fs::create_dir_all(&seeds).expect("seed dir");
            for mode in [0u8, 1] {
                let mut s = vec![mode];
                s.extend_from_slice(&good);
                std::fs::write(seeds.join(format!("valid-mode{mode}")), s).expect("seed");
            }
            // Edits of the valid file: one no-op, one neighbour-id change.
            std::fs::write(seeds.join("edit-none"), [2u8]).expect("seed");
            std::fs::write(seeds.join("edit-one"), [2u8, 0, 0, 0x80, 0xff, 0xff]).expect("seed");
        }
        Fixture {
            _dir: tmp,
            dir,
            index,
            good,
            live,
            options,
        }
    })
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Makes the header's store id, body length and both checksums valid.
fn fix_up(bytes: &mut [u8], good: &[u8]) {
    if bytes.len() < HEADER_LEN {
        return;
    }
    bytes[32..48].copy_from_slice(&good[32..48]);
    let body_len = (bytes.len() - HEADER_LEN) as u64;
    bytes[64..72].copy_from_slice(&body_len.to_le_bytes());
    let body_crc = crc32fast::hash(&bytes[HEADER_LEN..]);
    bytes[60..64].copy_from_slice(&body_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&bytes[0..72]);
    bytes[72..76].copy_from_slice(&header_crc.to_le_bytes());
}

fn file_from(data: &[u8], good: &[u8]) -> Option<Vec<u8>> {
    let (&mode, rest) = data.split_first()?;
    match mode % 3 {
        0 => Some(rest.to_vec()),
        1 => {
            let mut b = rest.to_vec();
            if b.len() >= HEADER_LEN {
                b[0..12].copy_from_slice(&good[0..12]);
                fix_up(&mut b, good);
            }
            Some(b)
        }
        _ => {
            let mut b = good.to_vec();
            let mut fix = true;
            for e in rest.chunks_exact(5) {
                if b.is_empty() {
                    break;
                }
                let at = (u16::from_le_bytes([e[1], e[2]]) as usize * b.len()) >> 16;
                let v = u16::from_le_bytes([e[3], e[4]]);
                fix = e[0] & 0x80 == 0;
                match e[0] & 0x7f {
                    // Small numbers and edge values in a 32-bit word (counts, ids, degrees).
                    0..=31 => {
                        let at = at & !3;
                        if at + 4 <= b.len() {
                            let word = match e[0] & 3 {
                                0 => v as u32,
                                1 => u32::MAX - v as u32,
                                2 => u32_at(&b, at).wrapping_add(v as u32),
                                _ => (v as u32) << 16,
                            };
                            b[at..at + 4].copy_from_slice(&word.to_le_bytes());
                        }
                    }
                    // A 64-bit count in the header (point count, layer sizes) set huge.
                    32..=47 => {
                        let at = at & !7;
                        if at + 8 <= b.len() {
                            let x = u64::MAX >> (v % 64);
                            b[at..at + 8].copy_from_slice(&x.to_le_bytes());
                        }
                    }
                    48..=79 => b[at] ^= v as u8,
                    80..=95 => b.truncate(at),
                    96..=111 => {
                        let n = (v as usize % 256).min(b.len() - at);
                        b.drain(at..at + n);
                    }
                    _ => {
                        let at = at.min(b.len());
                        let fill = vec![v as u8; (v >> 8) as usize % 128 + 1];
                        b.splice(at..at, fill);
                    }
                }
            }
            if fix {
                fix_up(&mut b, good);
            }
            Some(b)
        }
    }
}

fn check(engine: &Engine, f: &Fixture) {
    let ids: BTreeSet<u64> = engine.ids(JOBS).into_iter().collect();
    assert_eq!(ids, f.live, "live entities differ from the store's");
    let st = engine.collection_stats(JOBS);
    assert_eq!(st.live, f.live.len(), "live count");
    for id in [1, 6, N, N + 4] {
        let e = engine.get(JOBS, id).expect("get").expect("live entity");
        for v in e.vectors.values() {
            assert_eq!(v.len(), DIM);
        }
        assert!(engine.document(JOBS, id).expect("document").is_some());
    }
    assert!(
        engine.get(JOBS, 5).expect("get").is_none(),
        "deleted entity back"
    );
    let filters = [
        None,
        Some(Filter::eq("bucket", "b1")),
        Some(Filter::range("salary", Some(10_000.0), Some(30_000.0))),
    ];
    for (vi, name) in JOBS.vector_names().iter().enumerate() {
        let q = vector(7, vi, 0);
        for filter in &filters {
            let req = SearchRequest {
                collection: JOBS,
                vector: name,
                query: &q,
                k: 10,
                filter: filter.as_ref(),
                ef: Some(16),
            };
            for hits in [
                engine.search(&req).expect("search").hits,
                engine.search_exact(&req).expect("exact search"),
            ] {
                assert!(hits.len() <= 10);
                let mut seen = HashSet::new();
                for h in &hits {
                    assert!(
                        f.live.contains(&h.id),
                        "search returned non-live id {}",
                        h.id
                    );
                    assert!(seen.insert(h.id), "search returned id {} twice", h.id);
                }
                if filter.is_none() {
                    assert_eq!(hits.len(), 10, "short unfiltered answer");
                }
            }
        }
    }
}

fuzz_target!(init: { fixture(); }, |data: &[u8]| {
    let f = fixture();
    let Some(bytes) = file_from(data, &f.good) else {
        return;
    };
    std::fs::write(&f.index, &bytes).expect("write index file");
    let engine = Engine::open(&f.dir, f.options).expect("the engine opens whatever the file");
    check(&engine, f);
});
