//! What the scorer reads of each entity, extracted once from its stored document and payload
//! and cached per entity version ([`FeatureCache`]): a cached value is used only while the
//! engine's live version of the entity is the one it was read from, so a re-analysed job is
//! re-read and a deleted one is never scored.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use parking_lot::RwLock;
use serde_json::Value;

use crate::analysis::city::Cities;
use crate::analysis::extract::Education;
use crate::analysis::job::{culture_signals, CULTURE_SIGNALS};
use crate::analysis::lexicon::Lexicon;
use crate::analysis::occupation::{Matcher, Occupation};
use crate::store::{Collection, Payload, PayloadValue};
use crate::vector::{prefetch, SearchHit};

/// A skill name and its case-insensitive key.
#[derive(Debug, Clone, PartialEq)]
pub struct Skill {
    pub name: String,
    pub key: u64,
}

impl Skill {
    pub fn new(name: &str) -> Skill {
        Skill {
            name: name.trim().to_string(),
            key: skill_key(name),
        }
    }
}

/// FNV-1a of the trimmed, lowercased name.
pub fn skill_key(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.trim().to_lowercase().bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn skills_of(names: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<Skill> {
    let mut out: Vec<Skill> = Vec::new();
    for n in names {
        let n = n.as_ref();
        if n.trim().is_empty() {
            continue;
        }
        let s = Skill::new(n);
        if !out.iter().any(|o| o.key == s.key) {
            out.push(s);
        }
    }
    out
}

/// What a job offers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFeatures {
    pub title: String,
    pub company: String,
    pub company_id: Option<u64>,
    /// Normalised city ("深圳市").
    pub city: Option<String>,
    /// The posting says the work is remote.
    pub remote: bool,
    pub salary_min: Option<f64>,
    pub salary_max: Option<f64>,
    /// Minimum years of experience asked.
    pub years_min: Option<f32>,
    pub education: Option<Education>,
    pub industry: Option<String>,
    /// Skills named in the requirements.
    pub required: Vec<Skill>,
    /// Other skills the posting names.
    pub preferred: Vec<Skill>,
    pub culture: Vec<&'static str>,
    /// The standard occupation of the title (`code_num`, see [`crate::analysis::occupation`]).
    pub occupation: Option<u32>,
}

impl JobFeatures {
    /// Asks the CPU to fetch what scoring reads behind this job's pointers (its skill lists,
    /// culture phrases and city). Scoring 200 jobs spread over a large cache is bound by these
    /// misses; fetching a few jobs ahead overlaps them.
    #[inline]
    pub fn prefetch_heap(&self) {
        prefetch(self.required.as_ptr());
        prefetch(self.preferred.as_ptr());
        prefetch(self.culture.as_ptr());
        if let Some(c) = &self.city {
            prefetch(c.as_ptr());
        }
    }
}

/// Most skills a [`JobCard`] holds; a job naming more is scored from its full features.
pub const CARD_SKILLS: usize = 12;

/// What scoring reads of a job, flat in two cache lines, so scoring 200 candidates touches
/// their cache entries only (no pointer to a job's features, skill lists, city or culture
/// list is followed). [`crate::recommend::JobScorer::score_card`] gives exactly what
/// [`crate::recommend::JobScorer::score`] gives for the job the card was made from.
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct JobCard {
    /// `salary_max`, else `salary_min`; NaN when the job states neither.
    pub salary_top: f64,
    /// Minimum years asked; NaN when unstated.
    pub years_min: f32,
    /// The city's [`intern_city`] id; 0 when unstated.
    pub city: u32,
    /// The culture phrases, as bits of their index in `CULTURE_SIGNALS`.
    pub culture: u32,
    /// The occupation's `code_num`; 0 when none.
    pub occupation: u32,
    pub remote: bool,
    /// The card cannot stand for the job (more skills than fit, a culture phrase outside the
    /// known list): score its full features instead.
    pub full_only: bool,
    /// `keys[..n_required]` are the required skills, `keys[n_required..n_skills]` the others.
    pub n_required: u8,
    pub n_skills: u8,
    pub keys: [u64; CARD_SKILLS],
}

const _: () = assert!(std::mem::size_of::<JobCard>() == 128);

impl JobCard {
    /// A card that stands for nothing (companies, resumes, jobs it cannot describe).
    pub const FULL_ONLY: JobCard = JobCard {
        salary_top: f64::NAN,
        years_min: f32::NAN,
        city: 0,
        culture: 0,
        occupation: 0,
        remote: false,
        full_only: true,
        n_required: 0,
        n_skills: 0,
        keys: [0; CARD_SKILLS],
    };

    pub fn of(job: &JobFeatures) -> JobCard {
        let n = job.required.len() + job.preferred.len();
        let mut culture = 0u32;
        for p in &job.culture {
            match culture_bit(p) {
                Some(b) if culture & b == 0 => culture |= b,
                // Unknown or repeated: a mask would not count it as the list does.
                _ => return JobCard::FULL_ONLY,
            }
        }
        if n > CARD_SKILLS {
            return JobCard::FULL_ONLY;
        }
        let mut keys = [0; CARD_SKILLS];
        for (k, s) in keys
            .iter_mut()
            .zip(job.required.iter().chain(&job.preferred))
        {
            *k = s.key;
        }
        JobCard {
            salary_top: job.salary_max.or(job.salary_min).unwrap_or(f64::NAN),
            years_min: job.years_min.unwrap_or(f32::NAN),
            city: job.city.as_deref().map_or(0, intern_city),
            culture,
            occupation: job.occupation.unwrap_or(0),
            remote: job.remote,
            full_only: false,
            n_required: job.required.len() as u8,
            n_skills: n as u8,
            keys,
        }
    }
}

/// The bit of a culture phrase of `CULTURE_SIGNALS`, `None` for any other text.
pub fn culture_bit(phrase: &str) -> Option<u32> {
    const _: () = assert!(CULTURE_SIGNALS.len() <= 32);
    CULTURE_SIGNALS
        .iter()
        .position(|(_, p)| *p == phrase)
        .map(|i| 1 << i)
}

/// Ids of the cities job cards name: equal names, equal ids (from 1). Grows with the distinct
/// cities of cached jobs only ([`city_id`] does not add).
static CITY_IDS: LazyLock<RwLock<HashMap<String, u32>>> = LazyLock::new(Default::default);

/// The id of a job's city, given one if new.
pub fn intern_city(city: &str) -> u32 {
    if let Some(&id) = CITY_IDS.read().get(city) {
        return id;
    }
    let mut m = CITY_IDS.write();
    let next = m.len() as u32 + 1;
    *m.entry(city.to_string()).or_insert(next)
}

/// The id a job card would hold for `city`; `u32::MAX` (no card's) when no cached job has
/// named it.
pub fn city_id(city: &str) -> u32 {
    CITY_IDS.read().get(city).copied().unwrap_or(u32::MAX)
}

/// What a company offers (its open jobs are scored separately).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompanyFeatures {
    pub name: String,
    pub city: Option<String>,
    pub industry: String,
    pub size: Option<String>,
    pub culture: Vec<&'static str>,
}

/// Who is looking: a user's latest analysed resume (or an inline profile text), merged with
/// the platform's profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Profile {
    pub user_id: Option<u64>,
    pub resume_id: Option<u64>,
    /// The overall vector, L2-normalised.
    pub overall: Vec<f32>,
    pub skills: Vec<Skill>,
    pub years: Option<f32>,
    pub education: Option<Education>,
    pub city: Option<String>,
    /// Expected monthly salary as stated.
    pub salary: Option<(f64, f64)>,
    /// Culture phrases the resume's text names.
    pub culture: Vec<&'static str>,
    /// The standard occupation of the position sought (`code_num`).
    pub occupation: Option<u32>,
    /// The position sought as the resume states it ("求职意向：Java开发工程师", else its most
    /// recent job's title; [`crate::analysis::resume::position`]): the lexical candidates'
    /// query, with the skills.
    pub position: Option<String>,
}

impl Profile {
    pub fn has_skill(&self, key: u64) -> bool {
        self.skills.iter().any(|s| s.key == key)
    }

    /// Adds skills not yet present (from the platform's profile).
    pub fn add_skills(&mut self, names: &[String]) {
        for n in names {
            let s = Skill::new(n);
            if !s.name.is_empty() && !self.has_skill(s.key) {
                self.skills.push(s);
            }
        }
    }
}

fn num(p: &Payload, f: &str) -> Option<f64> {
    match p.get(f)? {
        PayloadValue::Number(x) if x.is_finite() => Some(*x),
        _ => None,
    }
}

fn kw(p: &Payload, f: &str) -> Option<String> {
    match p.get(f)? {
        PayloadValue::Keyword(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for k in path {
        cur = match cur.get(k) {
            Some(x) => x,
            None => return "",
        };
    }
    cur.as_str().unwrap_or("")
}

fn strings(v: &Value, path: &[&str]) -> Vec<String> {
    let mut cur = v;
    for k in path {
        cur = match cur.get(k) {
            Some(x) => x,
            None => return Vec::new(),
        };
    }
    cur.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

const REMOTE_WORDS: &[&str] = &["远程", "remote", "Remote", "居家办公", "在家办公"];

/// Culture phrases of a text, without "支持远程办公": remote work is a place fact (the basic
/// factor), and counting it as culture would penalise remote jobs for every profile that does
/// not mention it.
pub fn culture(text: &str) -> Vec<&'static str> {
    let mut c = culture_signals(text);
    c.retain(|p| *p != "支持远程办公");
    c
}

/// The `code_num` of an occupation.
pub fn occupation_num(o: &Occupation) -> Option<u32> {
    Matcher::bundled().row(&o.code).map(|r| r.code_num)
}

/// The occupation a stored analysis names (`analysis.occupation`), as a `code_num`; `null`
/// is none. A document written before analyses named one has it read again (`read`).
fn stored_occupation(doc: &Value, read: impl FnOnce() -> Option<Occupation>) -> Option<u32> {
    match doc.get("analysis").and_then(|a| a.get("occupation")) {
        Some(Value::Null) => None,
        Some(o) => o
            .get("code")
            .and_then(Value::as_str)
            .and_then(|c| Matcher::bundled().row(c))
            .map(|r| r.code_num),
        None => read().as_ref().and_then(occupation_num),
    }
}

/// A job's features from its payload (the facts the analysis indexed) and document (title,
/// texts, extracted skills).
pub fn job_features(payload: &Payload, doc: &Value) -> JobFeatures {
    let input = doc.get("input").unwrap_or(&Value::Null);
    let requirements = text(input, &["requirements"]);
    let description = text(input, &["description"]);
    let title = text(input, &["title"]);
    let location = text(input, &["location"]);
    // The skills are the analysis's (what GET /jobs/{id} shows); those the requirements name
    // are required, the others preferred.
    let mut named = skills_of(strings(doc, &["analysis", "extracted_skills"]));
    if named.is_empty() {
        named = skills_of(
            Lexicon::bundled().find_skills(&format!("{title}\n{description}\n{requirements}")),
        );
    }
    let in_requirements = skills_of(Lexicon::bundled().find_skills(requirements));
    let (mut required, mut preferred): (Vec<Skill>, Vec<Skill>) = named
        .into_iter()
        .partition(|s| in_requirements.iter().any(|r| r.key == s.key));
    if required.is_empty() {
        // No requirements text naming skills: everything the posting names counts as required.
        required = std::mem::take(&mut preferred);
    }
    let remote = REMOTE_WORDS
        .iter()
        .any(|w| location.contains(w) || title.contains(w));
    JobFeatures {
        title: title.to_string(),
        company: text(input, &["company"]).to_string(),
        company_id: num(payload, "company_id").map(|x| x as u64),
        city: kw(payload, "city"),
        remote,
        salary_min: num(payload, "salary_min"),
        salary_max: num(payload, "salary_max"),
        years_min: num(payload, "experience_years").map(|y| y as f32),
        education: kw(payload, "education").and_then(|e| Education::parse(&e)),
        industry: kw(payload, "industry"),
        required,
        preferred,
        culture: culture(&format!("{description}\n{requirements}")),
        occupation: stored_occupation(doc, || {
            crate::analysis::job::occupation(title, description, requirements)
        }),
    }
}

/// A company's features.
pub fn company_features(payload: &Payload, doc: &Value) -> CompanyFeatures {
    let input = doc.get("input").unwrap_or(&Value::Null);
    let culture_text = format!(
        "{}\n{}",
        text(input, &["description"]),
        text(doc, &["analysis", "culture_analysis"])
    );
    CompanyFeatures {
        name: text(input, &["name"]).to_string(),
        city: kw(payload, "city"),
        industry: kw(payload, "industry").unwrap_or_default(),
        size: kw(payload, "company_size"),
        culture: culture(&culture_text),
    }
}

/// A resume's features (without its vector, which the caller reads from the engine).
pub fn resume_features(payload: &Payload, doc: &Value) -> Profile {
    let content = text(doc, &["input", "content"]);
    let lo = num(payload, "expected_salary_min");
    let hi = num(payload, "expected_salary_max");
    let skills = strings(doc, &["analysis", "skills"]);
    let now = crate::analysis::resume::now_year();
    let occupation = stored_occupation(doc, || {
        crate::analysis::resume::occupation(content, &skills, now)
    });
    Profile {
        user_id: num(payload, "user_id").map(|x| x as u64),
        resume_id: None,
        overall: Vec::new(),
        skills: skills_of(skills),
        years: num(payload, "experience_years").map(|y| y as f32),
        education: kw(payload, "education").and_then(|e| Education::parse(&e)),
        city: kw(payload, "city"),
        salary: lo.map(|l| (l, hi.unwrap_or(l))),
        culture: culture(content),
        occupation,
        position: crate::analysis::resume::position(content, now),
    }
}

/// Features of any collection's entity.
#[derive(Debug, Clone)]
pub enum Features {
    Job(JobFeatures),
    Company(CompanyFeatures),
    Resume(Profile),
}

/// A cache entry: the features of one entity version and, for a job, its scoring card (first,
/// so a lookup and the card share cache lines).
#[derive(Debug, Clone)]
#[repr(C)]
pub struct Cached {
    pub version: u64,
    pub card: JobCard,
    pub features: Arc<Features>,
}

/// Entity id → its cached version.
type VersionedMap = crate::idmap::IdMap<Cached>;

/// Extracted features per (collection, entity), each tagged with the engine version it was
/// read from.
#[derive(Default)]
pub struct FeatureCache {
    maps: [RwLock<VersionedMap>; 3],
}

impl FeatureCache {
    /// The cached features of `id` at `version`, if those are what is cached.
    pub fn get(&self, c: Collection, id: u64, version: u64) -> Option<Arc<Features>> {
        let m = self.maps[c.index()].read();
        match m.get(&id) {
            Some(e) if e.version == version => Some(e.features.clone()),
            _ => None,
        }
    }

    /// Calls `f` with the cache entry of each hit's entity at the version the search read
    /// (`None` where the cache holds another version or none), under one read lock: nothing
    /// is cloned.
    pub fn with_many<R>(
        &self,
        c: Collection,
        hits: &[SearchHit],
        f: impl FnOnce(&[Option<&Cached>]) -> R,
    ) -> R {
        let m = self.maps[c.index()].read();
        let found: Vec<Option<&Cached>> = hits
            .iter()
            .map(|h| m.get(&h.id).filter(|e| e.version == h.version))
            .collect();
        f(&found)
    }

    /// The cached features of each hit ([`FeatureCache::with_many`], cloned out).
    pub fn get_many(&self, c: Collection, hits: &[SearchHit]) -> Vec<Option<Arc<Features>>> {
        self.with_many(c, hits, |found| {
            found
                .iter()
                .map(|e| e.map(|e| e.features.clone()))
                .collect()
        })
    }

    /// Caches features read at `version` (an older version never replaces a newer one).
    pub fn put(&self, c: Collection, id: u64, version: u64, f: Arc<Features>) {
        let card = match &*f {
            Features::Job(j) => JobCard::of(j),
            _ => JobCard::FULL_ONLY,
        };
        let mut m = self.maps[c.index()].write();
        match m.get(&id) {
            Some(e) if e.version > version => {}
            _ => {
                m.insert(
                    id,
                    Cached {
                        version,
                        card,
                        features: f,
                    },
                );
            }
        }
    }

    /// Drops entries whose entity is gone or changed (`live` gives the current version).
    pub fn retain(&self, c: Collection, live: impl Fn(u64) -> Option<u64>) {
        self.maps[c.index()]
            .write()
            .retain(|id, e| live(*id) == Some(e.version));
    }

    pub fn len(&self, c: Collection) -> usize {
        self.maps[c.index()].read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.maps.iter().all(|m| m.read().is_empty())
    }
}

/// Normalises a city the way payloads store it.
pub fn normalize_city(s: &str) -> String {
    Cities::bundled()
        .normalize(s)
        .unwrap_or_else(|| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_features_split_required_and_preferred_skills() {
        let p = Payload::new()
            .with("city", "深圳市")
            .with("salary_max", 25_000.0)
            .with("experience_years", 3.0);
        let doc = json!({
            "input": {"title": "前端开发工程师", "company": "腾讯", "location": "深圳",
                      "description": "使用TypeScript开发，团队氛围好", "requirements": "熟悉React、Vue"},
            "analysis": {"extracted_skills": ["TypeScript", "React", "Vue"]}
        });
        let f = job_features(&p, &doc);
        let names = |v: &[Skill]| v.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&f.required), ["React", "Vue"]);
        assert_eq!(names(&f.preferred), ["TypeScript"]);
        assert_eq!(f.city.as_deref(), Some("深圳市"));
        assert_eq!(f.years_min, Some(3.0));
        assert_eq!(f.culture, ["团队氛围好"]);
        assert!(!f.remote);
    }

    #[test]
    fn occupations_from_the_analysis_or_read_again() {
        let stored = json!({"input": {"title": "会计"},
            "analysis": {"occupation": {"code": "2-02-10-03", "name": "计算机软件工程技术人员", "confidence": 0.9}}});
        assert_eq!(
            job_features(&Payload::new(), &stored).occupation,
            Some(2_021_003)
        );
        let none = json!({"input": {"title": "Java开发"}, "analysis": {"occupation": null}});
        assert_eq!(job_features(&Payload::new(), &none).occupation, None);
        // Written before analyses named an occupation: read from the title.
        let old = json!({"input": {"title": "Java开发", "description": "", "requirements": ""},
            "analysis": {"extracted_skills": ["Java"]}});
        assert_eq!(
            job_features(&Payload::new(), &old).occupation,
            Some(2_021_003)
        );
        let resume =
            json!({"input": {"content": "求职意向：会计\n熟悉Excel"}, "analysis": {"skills": []}});
        assert_eq!(
            resume_features(&Payload::new(), &resume).occupation,
            Some(2_060_300)
        );
    }

    #[test]
    fn remote_work_is_a_place_not_a_culture() {
        let doc = json!({"input": {"title": "Go开发（远程）", "location": "远程",
            "description": "支持远程办公，鼓励创新", "requirements": "熟悉Go"}});
        let f = job_features(&Payload::new(), &doc);
        assert!(f.remote);
        assert_eq!(f.culture, ["鼓励创新"]);
    }

    #[test]
    fn cache_serves_only_the_version_it_holds() {
        let c = FeatureCache::default();
        let f = Arc::new(Features::Company(CompanyFeatures::default()));
        c.put(Collection::Jobs, 1, 5, f.clone());
        assert!(c.get(Collection::Jobs, 1, 5).is_some());
        assert!(c.get(Collection::Jobs, 1, 6).is_none());
        c.put(Collection::Jobs, 1, 4, f);
        assert!(
            c.get(Collection::Jobs, 1, 5).is_some(),
            "older version kept out"
        );
        c.retain(Collection::Jobs, |_| None);
        assert_eq!(c.len(Collection::Jobs), 0);
    }
}
