//! jobfirst-ai's lexical index (BM25F, in memory) against tantivy (BM25, segments), on the
//! jobs `benches/search.rs` generates and the queries `eval-search` asks. See README.md.
//!
//! Without arguments the program runs each engine in a child process of its own (so each
//! one's RSS delta is its own) and prints the table; `--engine NAME` runs one engine and
//! prints machine-readable lines (`ROW`, `TOP5`, `SAMPLE`, `NOTE`) that the parent reads.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use jobfirst_ai::analysis::lexicon::Lexicon;
use jobfirst_ai::eval::search::{display_name, occupations, queries, LabelledQuery, Occupation};
use jobfirst_ai::lexical::tokenize::tokens;
use jobfirst_ai::lexical::{DocTerms, LexicalIndex, Query};
use jobfirst_ai::hybrid::JOB_FIELDS;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};
use tantivy::{DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

const K: usize = 10;
const ENGINES: [&str; 4] = ["ours", "ours-insert", "tantivy-ram", "tantivy-mmap"];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- data (as benches/search.rs)

struct Data {
    occ: Vec<Occupation>,
    skills: Vec<String>,
    queries: Vec<LabelledQuery>,
}

impl Data {
    fn load() -> Data {
        let occ = occupations().expect("classification");
        let skills = Lexicon::bundled()
            .occupations()
            .iter()
            .filter(|o| !o.is_title)
            .map(|o| o.name.clone())
            .collect();
        let queries = queries(&occ);
        Data {
            occ,
            skills,
            queries,
        }
    }

    /// Occupation (index into `occ`) of job `i`.
    fn occ_of(&self, i: usize) -> usize {
        (i * 7_919) % self.occ.len()
    }

    /// Job `i`'s texts in `JOB_FIELDS` order: title, skills, requirements, description, company.
    fn job(&self, i: usize) -> [String; 5] {
        let o = &self.occ[self.occ_of(i)];
        let seniority = ["", "高级", "资深", "初级"][i % 4];
        let title = format!("{seniority}{}", display_name(&o.name));
        let picked: Vec<&str> = (0..3)
            .map(|k| self.skills[(i * 31 + k * 17) % self.skills.len()].as_str())
            .collect();
        let requirements = format!("{}\n熟悉{}", o.tasks, picked.join("、"));
        let company = format!("公司{}", i % 2_000);
        [
            title,
            picked.join("\n"),
            requirements,
            o.definition.clone(),
            company,
        ]
    }

    /// Three queries to show top-3 titles for: a plain alias, a category query with a Latin
    /// word, one from the middle.
    fn sample_queries(&self) -> Vec<usize> {
        let latin = self
            .queries
            .iter()
            .position(|q| q.set == "categories" && q.text.chars().any(|c| c.is_ascii_alphabetic()))
            .unwrap_or(1);
        vec![0, latin, self.queries.len() / 2]
    }

    /// Whether the job of (0-based) index `job` is the occupation the query means (grade 2).
    fn hit(&self, q: &LabelledQuery, job: usize) -> bool {
        q.grades.get(&self.occ[self.occ_of(job)].id) == Some(&2)
    }
}

/// Job indexes replaced by the update test, and the job whose text replaces each.
fn updates(n: usize, count: usize) -> Vec<(usize, usize)> {
    (0..count)
        .map(|u| ((u * 48_271 + 11) % n, (u * 7 + n / 3) % n))
        .collect()
}

// ---------------------------------------------------------------- measuring

fn rss_bytes() -> u64 {
    // Give freed heap back first, so the delta is what is held, not what was once used.
    unsafe {
        libc::malloc_trim(0);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    if samples.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.99))
}

/// What one engine reports.
struct Row {
    engine: String,
    build_s: f64,
    bytes_per_job: f64,
    rss_per_job: f64,
    upd: (f64, f64),
    query: (f64, f64),
    hit5: f64,
}

impl Row {
    fn line(&self) -> String {
        format!(
            "ROW\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.engine,
            self.build_s,
            self.bytes_per_job,
            self.rss_per_job,
            self.upd.0,
            self.upd.1,
            self.query.0,
            self.query.1,
            self.hit5
        )
    }

    fn parse(line: &str) -> Option<Row> {
        let f: Vec<&str> = line.strip_prefix("ROW\t")?.split('\t').collect();
        let n = |i: usize| f[i].parse::<f64>().unwrap_or(f64::NAN);
        Some(Row {
            engine: f[0].to_string(),
            build_s: n(1),
            bytes_per_job: n(2),
            rss_per_job: n(3),
            upd: (n(4), n(5)),
            query: (n(6), n(7)),
            hit5: n(8),
        })
    }
}

/// Runs every query once to warm up, then once timed; returns the latencies (µs) and each
/// query's top-5 job indexes.
fn run_queries(
    data: &Data,
    mut search: impl FnMut(&str) -> Vec<usize>,
) -> (Vec<f64>, Vec<Vec<usize>>) {
    for q in &data.queries {
        std::hint::black_box(search(&q.text));
    }
    let mut lat = Vec::with_capacity(data.queries.len());
    let mut tops = Vec::with_capacity(data.queries.len());
    for q in &data.queries {
        let t = Instant::now();
        let hits = std::hint::black_box(search(&q.text));
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        tops.push(hits.into_iter().take(5).collect::<Vec<_>>());
    }
    (lat, tops)
}

fn report_relevance(data: &Data, tops: &[Vec<usize>]) -> f64 {
    for (qi, top) in tops.iter().enumerate() {
        let ids: Vec<String> = top.iter().map(|j| j.to_string()).collect();
        println!("TOP5\t{qi}\t{}", ids.join(","));
    }
    let hits = data
        .queries
        .iter()
        .zip(tops)
        .filter(|(q, top)| top.iter().any(|&j| data.hit(q, j)))
        .count();
    hits as f64 / data.queries.len().max(1) as f64
}

// ---------------------------------------------------------------- ours

/// Ours, built at once with `LexicalIndex::insert_batch` (as the engine rebuilds it on open), or with
/// `insert` one job at a time (`by_insert`, as writes arrive).
fn run_ours(data: &Data, n: usize, n_updates: usize, by_insert: bool) -> Row {
    let texts: Vec<[String; 5]> = (0..n).map(|i| data.job(i)).collect();
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut index = if by_insert {
        let mut index = LexicalIndex::new(JOB_FIELDS);
        for (i, t) in texts.iter().enumerate() {
            index.insert(i as u64 + 1, &DocTerms::with_stored(JOB_FIELDS, t));
        }
        index
    } else {
        let docs: Vec<(u64, DocTerms)> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| (i as u64 + 1, DocTerms::with_stored(JOB_FIELDS, t)))
            .collect();
        { let mut ix = LexicalIndex::new(JOB_FIELDS); ix.insert_batch(&docs); ix }
    };
    let build_s = t.elapsed().as_secs_f64();
    let rss1 = rss_bytes();
    let bytes = index.memory_bytes();
    let label = if by_insert { "ours-insert" } else { "ours" };
    println!(
        "NOTE\t{label}: {} documents, {} terms, memory_bytes {:.1} MiB, RSS delta {:.1} MiB",
        index.len(),
        index.term_count(),
        bytes as f64 / 1048576.0,
        (rss1 as f64 - rss0 as f64) / 1048576.0
    );
    drop(texts);

    for qi in data.sample_queries() {
        let q = &data.queries[qi];
        let titles: Vec<String> = index
            .search(&Query::parse(&q.text), 3, |_| true)
            .iter()
            .map(|h| index.stored(h.id).map_or("?".into(), |s| s[0].to_string()))
            .collect();
        println!("SAMPLE\t{label}\t{}\t{}", q.text, titles.join(" | "));
    }
    let (mut lat, tops) = run_queries(data, |text| {
        index
            .search(&Query::parse(text), K, |_| true)
            .iter()
            .map(|h| h.id as usize - 1)
            .collect()
    });
    let hit5 = report_relevance(data, &tops);

    // A write is visible to the next search as soon as `insert` returns.
    let mut upd = Vec::with_capacity(n_updates);
    for (job, from) in updates(n, n_updates) {
        let text = data.job(from);
        let t = Instant::now();
        let doc = DocTerms::with_stored(JOB_FIELDS, &text);
        index.insert(job as u64 + 1, &doc);
        upd.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Row {
        engine: if by_insert {
            "ours, built by insert".into()
        } else {
            "ours (BM25F, in memory)".into()
        },
        build_s,
        bytes_per_job: bytes as f64 / n as f64,
        rss_per_job: (rss1 as f64 - rss0 as f64) / n as f64,
        upd: percentiles(&mut upd),
        query: percentiles(&mut lat),
        hit5,
    }
}

// ---------------------------------------------------------------- tantivy

/// The project's own tokeniser as a tantivy tokenizer: CJK bigrams, single CJK characters,
/// lower-cased Latin words with tech names whole and their parts. Identical terms.
#[derive(Clone, Default)]
struct JfTokenizer;

struct JfStream {
    toks: Vec<Token>,
    at: usize,
}

impl Tokenizer for JfTokenizer {
    type TokenStream<'a> = JfStream;
    fn token_stream<'a>(&'a mut self, text: &'a str) -> JfStream {
        // Character offsets to byte offsets.
        let mut bytes: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        bytes.push(text.len());
        let toks = tokens(text)
            .into_iter()
            .enumerate()
            .map(|(i, t)| Token {
                offset_from: bytes[t.start.min(bytes.len() - 1)],
                offset_to: bytes[t.end.min(bytes.len() - 1)],
                position: i,
                text: t.term,
                position_length: 1,
            })
            .collect();
        JfStream {
            toks,
            at: usize::MAX,
        }
    }
}

impl TokenStream for JfStream {
    fn advance(&mut self) -> bool {
        self.at = self.at.wrapping_add(1);
        self.at < self.toks.len()
    }
    fn token(&self) -> &Token {
        &self.toks[self.at]
    }
    fn token_mut(&mut self) -> &mut Token {
        &mut self.toks[self.at]
    }
}

struct Tantivy {
    id: Field,
    /// In `JOB_FIELDS` order, with their weights.
    fields: Vec<(Field, f32)>,
    index: Index,
    reader: IndexReader,
    /// Per segment (by ordinal) of the current searcher: the `id` column.
    ids: Vec<tantivy::columnar::Column<u64>>,
    searcher: tantivy::Searcher,
}

impl Tantivy {
    fn schema() -> (Schema, Field, Vec<(Field, f32)>) {
        let mut b = Schema::builder();
        let id = b.add_u64_field("id", NumericOptions::default().set_indexed().set_fast());
        let fields = JOB_FIELDS
            .iter()
            .map(|f| {
                // Frequencies, no positions: BM25 needs no more, and ours keeps no positions.
                let indexing = TextFieldIndexing::default()
                    .set_tokenizer("jf")
                    .set_index_option(IndexRecordOption::WithFreqs);
                let mut opts = TextOptions::default().set_indexing_options(indexing);
                if f.stored {
                    opts = opts.set_stored();
                }
                (b.add_text_field(f.name, opts), f.weight)
            })
            .collect();
        (b.build(), id, fields)
    }

    fn doc(&self, id: u64, texts: &[String; 5]) -> TantivyDocument {
        let mut d = TantivyDocument::default();
        d.add_u64(self.id, id);
        for ((f, _), t) in self.fields.iter().zip(texts) {
            d.add_text(*f, t);
        }
        d
    }

    fn reload(&mut self) {
        self.reader.reload().expect("reload");
        self.searcher = self.reader.searcher();
        self.ids = self
            .searcher
            .segment_readers()
            .iter()
            .map(|s| s.fast_fields().u64("id").expect("id column"))
            .collect();
    }

    /// One TermQuery per (query term, field), boosted by the field's weight times the term's
    /// (0.5 for a part, as in ours), all SHOULD: BM25 per field, summed (block-max WAND).
    fn query(&self, text: &str) -> BooleanQuery {
        let q = Query::parse(text);
        let mut clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> = Vec::new();
        for t in &q.terms {
            for (f, w) in &self.fields {
                let tq = TermQuery::new(
                    Term::from_field_text(*f, &t.term),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(tq), w * t.weight))));
            }
        }
        BooleanQuery::new(clauses)
    }

    fn search(&self, text: &str, k: usize) -> Vec<(DocAddress, u64)> {
        let q = self.query(text);
        self.searcher
            .search(&q, &TopDocs::with_limit(k).order_by_score())
            .expect("search")
            .into_iter()
            .map(|(_, a)| {
                let id = self.ids[a.segment_ord as usize]
                    .first(a.doc_id)
                    .expect("id");
                (a, id)
            })
            .collect()
    }
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn run_tantivy(data: &Data, n: usize, n_updates: usize, mmap: bool) -> Vec<Row> {
    let threads = env_usize("TANTIVY_THREADS", 1);
    let budget = env_usize("TANTIVY_HEAP_MB", 200) << 20;
    let batch = env_usize("TANTIVY_BATCH", 1_000);
    let texts: Vec<[String; 5]> = (0..n).map(|i| data.job(i)).collect();
    let (schema, id, fields) = Tantivy::schema();
    let dir: Option<PathBuf> = mmap.then(|| {
        let base = std::env::var("TANTIVY_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let d = base.join(format!("compare_tantivy_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("index dir");
        d
    });
    let rss0 = rss_bytes();
    let index = match &dir {
        Some(d) => Index::create_in_dir(d, schema).expect("index"),
        None => Index::create_in_ram(schema),
    };
    index
        .tokenizers()
        .register("jf", TextAnalyzer::from(JfTokenizer));
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .expect("reader");
    let searcher = reader.searcher();
    let mut tv = Tantivy {
        id,
        fields,
        index,
        reader,
        ids: Vec::new(),
        searcher,
    };
    let mut writer: IndexWriter = tv
        .index
        .writer_with_num_threads(threads, budget)
        .expect("writer");

    let t = Instant::now();
    for (i, text) in texts.iter().enumerate() {
        writer.add_document(tv.doc(i as u64 + 1, text)).expect("add");
    }
    writer.commit().expect("commit");
    let build_s = t.elapsed().as_secs_f64();
    let segments = tv.index.searchable_segment_ids().expect("segments");
    let t = Instant::now();
    let n_segments = segments.len();
    if segments.len() > 1 {
        writer.merge(&segments).wait().expect("merge");
    }
    writer.garbage_collect_files().wait().expect("gc");
    let merge_s = t.elapsed().as_secs_f64();
    tv.reload();
    let space = tv.searcher.space_usage().expect("space").total().get_bytes();
    let on_disk = dir.as_deref().map(dir_bytes);
    let rss1 = rss_bytes();
    drop(texts);
    let label = if mmap { "tantivy-mmap" } else { "tantivy-ram" };
    println!(
        "NOTE\t{label}: {} documents; build {build_s:.1} s with {threads} indexing thread(s), \
         {budget_mb} MB budget, then {n_segments} segment(s) merged into {} in {merge_s:.1} s; \
         index {:.1} MiB (space_usage){}; RSS delta {:.1} MiB (writer open{})",
        tv.searcher.num_docs(),
        tv.searcher.segment_readers().len(),
        space as f64 / 1048576.0,
        on_disk.map_or(String::new(), |b| format!(", {:.1} MiB of files on disk", b as f64 / 1048576.0)),
        (rss1 as f64 - rss0 as f64) / 1048576.0,
        if mmap { ", includes mapped pages touched" } else { "" },
        budget_mb = budget >> 20,
    );

    for qi in data.sample_queries() {
        let q = &data.queries[qi];
        let titles: Vec<String> = tv
            .search(&q.text, 3)
            .iter()
            .map(|(a, _)| {
                let d: TantivyDocument = tv.searcher.doc(*a).expect("doc");
                d.get_first(tv.fields[0].0)
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_else(|| "?".into())
            })
            .collect();
        println!("SAMPLE\t{label}\t{}\t{}", q.text, titles.join(" | "));
    }
    let (mut lat, tops) = run_queries(data, |text| {
        tv.search(text, K)
            .into_iter()
            .map(|(_, id)| id as usize - 1)
            .collect()
    });
    let hit5 = report_relevance(data, &tops);
    let query = percentiles(&mut lat);
    // Where the time goes: parsing and making the weights (term lookups, idf) alone.
    let mut prep: Vec<f64> = data
        .queries
        .iter()
        .map(|q| {
            let t = Instant::now();
            let bq = tv.query(&q.text);
            let w = tantivy::query::Query::weight(
                &bq,
                tantivy::query::EnableScoring::enabled_from_searcher(&tv.searcher),
            )
            .expect("weight");
            std::hint::black_box(w);
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    let (prep50, prep99) = percentiles(&mut prep);
    println!("NOTE\t{label}: of the query time, parsing and building the weights take p50 {prep50:.0} µs, p99 {prep99:.0} µs");

    // One replaced document, searchable when acknowledged: delete + add + commit + reload.
    let id_field = tv.id;
    let id_term = |job: usize| Term::from_field_u64(id_field, job as u64 + 1);
    let mut upd = Vec::with_capacity(n_updates);
    for (job, from) in updates(n, n_updates) {
        let text = data.job(from);
        let t = Instant::now();
        writer.delete_term(id_term(job));
        writer.add_document(tv.doc(job as u64 + 1, &text)).expect("add");
        writer.commit().expect("commit");
        tv.reload();
        upd.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let check = updates(n, n_updates).last().copied();
    if let Some((job, from)) = check {
        let title = data.job(from)[0].clone();
        let found = tv
            .search(&title, 50)
            .iter()
            .any(|(_, id)| *id as usize == job + 1);
        println!("NOTE\t{label}: last replaced job found by its new title: {found}; {} segments after the updates", tv.searcher.segment_readers().len());
    }
    let upd = percentiles(&mut upd);

    // The same kind of updates, committed every `batch` documents: visible only at the commit.
    let rounds = env_usize("TANTIVY_BATCH_ROUNDS", 5);
    let all = updates(n, n_updates + batch * rounds);
    let mut per_doc = Vec::new();
    for r in 0..rounds {
        let t = Instant::now();
        for &(job, from) in &all[n_updates + r * batch..n_updates + (r + 1) * batch] {
            let text = data.job(from);
            writer.delete_term(id_term(job));
            writer.add_document(tv.doc(job as u64 + 1, &text)).expect("add");
        }
        writer.commit().expect("commit");
        tv.reload();
        per_doc.push(t.elapsed().as_secs_f64() * 1e6 / batch as f64);
    }
    let batched = percentiles(&mut per_doc);
    drop(writer);
    if let Some(d) = &dir {
        let _ = std::fs::remove_dir_all(d);
    }
    // "tantivy v0.27.0, index_format v7" → "tantivy v0.27.0"
    let version = tantivy::version_string().split(',').next().unwrap_or("tantivy");
    let (bytes_per_job, engine) = match on_disk {
        Some(b) => (b as f64 / n as f64, format!("{version} (MmapDirectory)")),
        None => (space as f64 / n as f64, format!("{version} (RamDirectory)")),
    };
    let short = if mmap { "tantivy mmap" } else { "tantivy ram" };
    vec![
        Row {
            engine,
            build_s,
            bytes_per_job,
            rss_per_job: (rss1 as f64 - rss0 as f64) / n as f64,
            upd,
            query,
            hit5,
        },
        Row {
            engine: format!("{short}, commit per {batch} docs (per doc)"),
            build_s: f64::NAN,
            bytes_per_job: f64::NAN,
            rss_per_job: f64::NAN,
            upd: batched,
            query: (f64::NAN, f64::NAN),
            hit5: f64::NAN,
        },
    ]
}

// ---------------------------------------------------------------- the parent

fn child(engine: &str) -> (Vec<Row>, Vec<Vec<usize>>, Vec<String>) {
    let exe = std::env::current_exe().expect("exe");
    let out = Command::new(exe)
        .args(["--engine", engine])
        .stderr(Stdio::inherit())
        .output()
        .expect("child runs");
    assert!(out.status.success(), "{engine} failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut rows = Vec::new();
    let mut tops = Vec::new();
    let mut notes = Vec::new();
    for line in text.lines() {
        if let Some(r) = Row::parse(line) {
            rows.push(r);
        } else if let Some(rest) = line.strip_prefix("TOP5\t") {
            let ids = rest.split_once('\t').map_or("", |(_, ids)| ids);
            tops.push(ids.split(',').filter_map(|s| s.parse().ok()).collect());
        } else if let Some(rest) = line.strip_prefix("NOTE\t") {
            notes.push(rest.to_string());
        } else if let Some(rest) = line.strip_prefix("SAMPLE\t") {
            let f: Vec<&str> = rest.split('\t').collect();
            notes.push(format!("{:<13} {} → {}", f[0], f[1], f.get(2).unwrap_or(&"")));
        }
    }
    (rows, tops, notes)
}

fn fmt(x: f64, digits: usize) -> String {
    if x.is_nan() {
        "-".into()
    } else {
        format!("{x:.digits$}")
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n = env_usize("JOBS", 100_000);
    let n_updates = env_usize("UPDATES", 200);
    if let Some(i) = args.iter().position(|a| a == "--engine") {
        let data = Data::load();
        let rows = match args.get(i + 1).map(String::as_str) {
            Some("ours") => vec![run_ours(&data, n, n_updates, false)],
            Some("ours-insert") => vec![run_ours(&data, n, n_updates, true)],
            Some("tantivy-ram") => run_tantivy(&data, n, n_updates, false),
            Some("tantivy-mmap") => run_tantivy(&data, n, n_updates, true),
            other => panic!("unknown engine {other:?} (one of {ENGINES:?})"),
        };
        for r in rows {
            println!("{}", r.line());
        }
        return;
    }
    let data = Data::load();
    let terms: usize = data.queries.iter().map(|q| Query::parse(&q.text).terms.len()).sum();
    let mean_terms = terms as f64 / data.queries.len().max(1) as f64;
    println!(
        "queries have {mean_terms:.1} terms on average: as many posting lists for ours (fields \
         folded into one list per term), {:.0} term scorers for tantivy (one per term and field)",
        mean_terms * JOB_FIELDS.len() as f64
    );
    println!(
        "{n} jobs, {} queries, {n_updates} single updates per engine",
        data.queries.len()
    );
    let wanted: Vec<String> = std::env::var("ENGINES")
        .map(|s| s.split(',').map(str::to_string).collect())
        .unwrap_or_else(|_| ENGINES.iter().map(|s| s.to_string()).collect());
    let mut rows = Vec::new();
    let mut tops: Vec<(String, Vec<Vec<usize>>)> = Vec::new();
    let mut notes = Vec::new();
    for e in &wanted {
        eprintln!("running {e} …");
        let (r, t, nn) = child(e);
        rows.extend(r);
        tops.push((e.clone(), t));
        notes.extend(nn);
    }
    println!();
    for n in &notes {
        println!("{n}");
    }
    println!();
    println!(
        "{:<44} {:>8} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
        "engine", "build s", "bytes/job", "RSS/job", "upd p50µs", "upd p99µs", "q p50µs", "q p99µs", "hit@5"
    );
    for r in &rows {
        println!(
            "{:<44} {:>8} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>7}",
            r.engine,
            fmt(r.build_s, 1),
            fmt(r.bytes_per_job, 0),
            fmt(r.rss_per_job, 0),
            fmt(r.upd.0, 0),
            fmt(r.upd.1, 0),
            fmt(r.query.0, 0),
            fmt(r.query.1, 0),
            if r.hit5.is_nan() { "-".into() } else { format!("{:.1}%", r.hit5 * 100.0) }
        );
    }
    // Agreement of each tantivy run with ours: shared jobs in the top 5, and shared
    // occupations (many jobs share an occupation's text, so job ties are arbitrary).
    if let Some((_, ours)) = tops.iter().find(|(e, _)| e == "ours") {
        for (e, t) in tops.iter().filter(|(e, _)| e.starts_with("tantivy")) {
            let (mut jobs, mut occs, mut top1) = (0.0, 0.0, 0usize);
            for (a, b) in ours.iter().zip(t) {
                let sa: HashSet<usize> = a.iter().copied().collect();
                let sb: HashSet<usize> = b.iter().copied().collect();
                jobs += sa.intersection(&sb).count() as f64 / sa.len().max(sb.len()).max(1) as f64;
                let oa: HashSet<usize> = a.iter().map(|&j| data.occ_of(j)).collect();
                let ob: HashSet<usize> = b.iter().map(|&j| data.occ_of(j)).collect();
                occs += oa.intersection(&ob).count() as f64 / oa.union(&ob).count().max(1) as f64;
                top1 += usize::from(a.first().map(|&j| data.occ_of(j)) == b.first().map(|&j| data.occ_of(j)));
            }
            let q = ours.len().max(1) as f64;
            println!(
                "top-5 agreement ours vs {e}: {:.1}% of jobs, {:.1}% of occupations (Jaccard), \
                 same top-1 occupation {:.1}%",
                jobs / q * 100.0,
                occs / q * 100.0,
                top1 as f64 / q * 100.0
            );
        }
    }
}
