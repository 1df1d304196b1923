//! Hostile inputs found or suggested by the fuzz targets of `fuzz/` (see `scripts/fuzz.sh`):
//! crafted index files with valid checksums, TEXMEX files with absurd headers and LLM output
//! around multi-byte text. Each test replays an input that must be answered with an error or a
//! sane value — never a panic, an abort, a lost entity or an absurd allocation.
//!
//! `tests/engine.rs` already covers damaged index files (flipped bytes, truncation, bad magic,
//! wrong version, trailing bytes, another store's file, a changed point count): these tests
//! cover files that pass every checksum but lie about their contents.

use crate::support::data;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use jobfirst_ai::ai::llm::{extract_json, parse_json_output};
use jobfirst_ai::eval::texmex::{parse_fvecs, parse_ivecs};
use jobfirst_ai::store::{Collection, Payload};
use jobfirst_ai::vector::{Engine, EngineOptions, EntityUpsert, SearchRequest};

// ---------------------------------------------------------------------------------------------
// Index files that pass the checksums
// ---------------------------------------------------------------------------------------------

const JOBS: Collection = Collection::Jobs;
const DIM: usize = 8;
const N: u64 = 40;
const HEADER_LEN: usize = 128;

fn opts() -> EngineOptions {
    EngineOptions {
        tail_limit: 1_000,
        background_rebuild: false,
        ..EngineOptions::default()
    }
}

fn vector(id: u64, name: usize) -> Vec<f32> {
    data::xorshift_vector(
        id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((name as u64 + 1) << 40),
        DIM,
    )
}

fn entity(id: u64) -> EntityUpsert {
    let vectors: HashMap<String, Vec<f32>> = JOBS
        .vector_names()
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), vector(id, i)))
        .collect();
    EntityUpsert {
        id,
        vectors,
        payload: Payload::new().with("bucket", format!("b{}", id % 3).as_str()),
        document: serde_json::json!({ "id": id }),
    }
}

/// A store of `N` jobs with a freshly written index file; returns the dir and the file.
fn store_with_index() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
    let dir = tempfile::Builder::new()
        .prefix("hostile-files")
        .tempdir()
        .unwrap();
    {
        let engine = Engine::open(dir.path(), opts()).unwrap();
        engine
            .upsert_batch(JOBS, "m", (1..=N).map(entity).collect())
            .unwrap();
        engine.rebuild(JOBS).unwrap();
        assert_eq!(engine.collection_stats(JOBS).frozen, N as usize);
    }
    let path = dir.path().join("index").join("jobs.idx");
    let good = std::fs::read(&path).unwrap();
    (dir, path, good)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

fn pad(len: usize) -> usize {
    len.div_ceil(64) * 64
}

/// Makes the body length, the body checksum and the header checksum valid again.
fn fix_checksums(b: &mut [u8]) {
    let body_len = (b.len() - HEADER_LEN) as u64;
    b[64..72].copy_from_slice(&body_len.to_le_bytes());
    let body = crc32fast::hash(&b[HEADER_LEN..]);
    b[60..64].copy_from_slice(&body.to_le_bytes());
    let header = crc32fast::hash(&b[0..72]);
    b[72..76].copy_from_slice(&header.to_le_bytes());
}

/// Offsets of the first graph's sections: `(m0, level0)`.
fn first_graph(b: &[u8]) -> (usize, usize) {
    let n = u64_at(b, 16) as usize;
    let dim = u32::from_le_bytes(b[12..16].try_into().unwrap()) as usize;
    let graph = HEADER_LEN + pad(n * 8) + pad(n * 8);
    let m0 = u32::from_le_bytes(b[graph + 8..graph + 12].try_into().unwrap()) as usize;
    let vectors = graph + 64;
    (m0, vectors + pad(n * dim * 4))
}

/// Opens the engine on `file` as the jobs index and checks it serves exactly the store.
fn open_with(dir: &Path, path: &Path, file: &[u8], what: &str) -> Engine {
    std::fs::write(path, file).unwrap();
    let engine = Engine::open(dir, opts()).unwrap_or_else(|e| panic!("{what}: open failed: {e}"));
    let ids: BTreeSet<u64> = engine.ids(JOBS).into_iter().collect();
    assert_eq!(ids, (1..=N).collect::<BTreeSet<u64>>(), "{what}: live ids");
    assert_eq!(engine.collection_stats(JOBS).live, N as usize, "{what}");
    for (vi, name) in JOBS.vector_names().iter().enumerate() {
        let q = vector(3, vi);
        let req = SearchRequest {
            collection: JOBS,
            vector: name,
            query: &q,
            k: 10,
            filter: None,
            ef: None,
        };
        let hits = engine.search(&req).unwrap().hits;
        assert_eq!(hits.len(), 10, "{what}: short answer");
        let distinct: HashSet<u64> = hits.iter().map(|h| h.id).collect();
        assert_eq!(distinct.len(), hits.len(), "{what}: an id returned twice");
        assert_eq!(hits[0].id, 3, "{what}: the query's own entity is not first");
    }
    engine
}

#[test]
fn out_of_range_neighbour_with_valid_checksums_is_rebuilt() {
    let (dir, path, good) = store_with_index();
    let (m0, level0) = first_graph(&good);
    assert!(m0 > 0, "the first graph has edges");
    let mut bad = good.clone();
    // Row 0: one neighbour, position N + 7 (there are N points).
    bad[level0..level0 + 4].copy_from_slice(&1u32.to_le_bytes());
    bad[level0 + 4..level0 + 8].copy_from_slice(&(N as u32 + 7).to_le_bytes());
    fix_checksums(&mut bad);
    let engine = open_with(dir.path(), &path, &bad, "neighbour out of range");
    assert!(!engine.collection_stats(JOBS).loaded_from_file);
    drop(engine);
    // A neighbour count above the row's capacity is refused the same way.
    let mut bad = good.clone();
    bad[level0..level0 + 4].copy_from_slice(&(m0 as u32 + 1).to_le_bytes());
    fix_checksums(&mut bad);
    let engine = open_with(dir.path(), &path, &bad, "neighbour count over capacity");
    assert!(!engine.collection_stats(JOBS).loaded_from_file);
    drop(engine);
    // The intact file is used.
    let engine = open_with(dir.path(), &path, &good, "intact");
    assert!(engine.collection_stats(JOBS).loaded_from_file);
}

#[test]
fn huge_point_counts_with_valid_checksums_are_refused_without_allocating() {
    let (dir, path, good) = store_with_index();
    for count in [
        u64::MAX,
        u64::MAX / 8 + 1,
        1 << 40,
        u32::MAX as u64 / 2,
        u32::MAX as u64 / 2 + 1,
        N + 1,
    ] {
        let mut bad = good.clone();
        bad[16..24].copy_from_slice(&count.to_le_bytes());
        fix_checksums(&mut bad);
        let engine = open_with(dir.path(), &path, &bad, &format!("point count {count}"));
        assert!(!engine.collection_stats(JOBS).loaded_from_file, "{count}");
    }
    // A huge layer size and a huge dimension behind valid checksums are refused as well.
    let mut bad = good.clone();
    bad[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    fix_checksums(&mut bad);
    open_with(dir.path(), &path, &bad, "dimension u32::MAX");
}

/// Found by the `index_file` target (mode 2, one edit: the low word of position 17's entity
/// id set to 0xff0a). The file passed every check, so the loader killed position 17 (no such
/// live entity) but still counted its slot as "in the file" and never loaded entity 18 — the
/// real owner of that slot — from redb: entity 18 vanished until the next rebuild.
#[test]
fn an_entity_id_changed_in_a_valid_file_does_not_hide_the_real_entity() {
    let (dir, path, good) = store_with_index();
    let mut bad = good.clone();
    let at = HEADER_LEN + 17 * 8;
    assert_eq!(u64_at(&bad, at), 18);
    bad[at..at + 8].copy_from_slice(&0xff0au64.to_le_bytes());
    fix_checksums(&mut bad);
    let engine = open_with(dir.path(), &path, &bad, "entity id changed");
    assert!(engine.get(JOBS, 0xff0a).unwrap().is_none());
    let e = engine.get(JOBS, 18).unwrap().expect("entity 18 is served");
    assert_eq!(e.vectors["title"].len(), DIM);
    assert!(engine.document(JOBS, 18).unwrap().is_some());
}

/// An entity listed twice, or slots out of order, behind valid checksums: the file is refused
/// (the loader keys positions by entity and reads payloads from the first slot on).
#[test]
fn duplicate_entities_and_unordered_slots_in_a_valid_file_are_refused() {
    let (dir, path, good) = store_with_index();
    let n = N as usize;
    let slots = HEADER_LEN + pad(n * 8);
    let mut dup = good.clone();
    let second = HEADER_LEN + 8;
    dup[second..second + 8].copy_from_slice(&1u64.to_le_bytes());
    fix_checksums(&mut dup);
    let engine = open_with(dir.path(), &path, &dup, "entity 1 listed twice");
    assert!(!engine.collection_stats(JOBS).loaded_from_file);
    drop(engine);

    let mut swapped = good.clone();
    let (a, b) = (u64_at(&good, slots), u64_at(&good, slots + 8));
    assert!(a < b);
    swapped[slots..slots + 8].copy_from_slice(&b.to_le_bytes());
    swapped[slots + 8..slots + 16].copy_from_slice(&a.to_le_bytes());
    fix_checksums(&mut swapped);
    let engine = open_with(dir.path(), &path, &swapped, "slots out of order");
    assert!(!engine.collection_stats(JOBS).loaded_from_file);
}

// ---------------------------------------------------------------------------------------------
// TEXMEX files
// ---------------------------------------------------------------------------------------------

fn record(dim: i32, values: &[f32]) -> Vec<u8> {
    let mut out = dim.to_le_bytes().to_vec();
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A header claiming dimension 2^31 (or any absurd one) is refused before anything is
/// allocated for it, whatever follows; so is a later record that changes its dimension.
#[test]
fn texmex_headers_with_absurd_dimensions_are_refused_without_allocating() {
    let p = Path::new("hostile.fvecs");
    for dim in [i32::MIN, -1, 0, i32::MAX, 1 << 30, (1 << 16) + 1] {
        let mut bytes = dim.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 64]);
        let e = parse_fvecs(p, &bytes).unwrap_err().to_string();
        assert!(
            e.contains("hostile.fvecs") && e.contains("dimension"),
            "{dim}: {e}"
        );
        assert!(parse_ivecs(p, &bytes).is_err(), "{dim}");
    }
    // Only a header, or a header and part of a record.
    assert!(parse_fvecs(p, &2i32.to_le_bytes()).is_err());
    assert!(parse_fvecs(p, &record(2, &[1.0])).is_err());
    // Record 1 of 2 declares 2^31 - 1 (or a negative dimension) but has the right length.
    for later in [i32::MAX, i32::MIN, -2] {
        let mut bytes = record(2, &[1.0, 2.0]);
        bytes.extend(record(later, &[3.0, 4.0]));
        let e = parse_fvecs(p, &bytes).unwrap_err().to_string();
        assert!(e.contains("record 1"), "{later}: {e}");
    }
    // Negative ids and non-finite values.
    let mut ids = 1i32.to_le_bytes().to_vec();
    ids.extend_from_slice(&(-5i32).to_le_bytes());
    assert!(parse_ivecs(p, &ids).is_err());
    assert!(parse_fvecs(p, &record(1, &[f32::INFINITY])).is_err());
    assert_eq!(parse_fvecs(p, &record(2, &[1.0, 2.0])).unwrap().rows(), 1);
}

// ---------------------------------------------------------------------------------------------
// LLM output
// ---------------------------------------------------------------------------------------------

/// Multi-byte text glued to fences and braces (the kind of input the `llm_json` target
/// generates): the repair never slices inside a character and only returns spans of the input.
#[test]
fn llm_output_with_multibyte_text_around_json_never_panics() {
    let texts = [
        "好的```json\n{\"a\":\"中文\"}```完",
        "```\u{feff}{\"a\":1}```",
        "\u{feff}{\"a\": \"é\"}",
        "{\"a\":\"未闭合",
        "{é}{\"b\":[1,\"}\"]}ü",
        "```中```{```",
        "\\\"{\"a\":\"\\\"}\"}",
        "}{{{{{{{{{{{{{{{{{{{{{{{{{{",
    ];
    for t in texts {
        if let Some(span) = extract_json(t) {
            let start = span.as_ptr() as usize - t.as_ptr() as usize;
            assert_eq!(&t[start..start + span.len()], span, "{t:?}");
        }
        let _ = parse_json_output::<serde_json::Value>(t);
    }
    assert_eq!(
        extract_json("好的```json\n{\"a\":\"中文\"}```完"),
        Some("{\"a\":\"中文\"}")
    );
}
