//! Location normalisation to a prefecture-level city (or a municipality) with the bundled
//! `cncity.csv`: "深圳" → "深圳市", "Shenzhen" → "深圳市", "南山区" → "深圳市",
//! "广东省深圳市南山区" → "深圳市".

use std::collections::HashMap;
use std::sync::OnceLock;

const CNCITY: &str = include_str!("../../data/cncity.csv");

/// Cities that win when a district name is ambiguous (where job postings concentrate).
const MAJOR: &[&str] = &[
    "北京市",
    "上海市",
    "广州市",
    "深圳市",
    "杭州市",
    "成都市",
    "武汉市",
    "南京市",
    "西安市",
    "苏州市",
    "天津市",
    "重庆市",
    "长沙市",
    "郑州市",
    "东莞市",
    "青岛市",
    "沈阳市",
    "宁波市",
    "合肥市",
    "厦门市",
];

/// City lookup tables; see [`Cities::bundled`].
#[derive(Debug)]
pub struct Cities {
    /// Full names, short names and lowercase pinyin of cities → full city name.
    city: HashMap<String, String>,
    /// District names and short names → full city name (first one wins when ambiguous).
    district: HashMap<String, String>,
    /// City full and short names (≥ 2 chars), longest first, for scanning free text.
    scan: Vec<(String, String)>,
    /// Every full city name.
    names: Vec<String>,
}

impl Cities {
    pub fn bundled() -> &'static Cities {
        static CITIES: OnceLock<Cities> = OnceLock::new();
        CITIES.get_or_init(Cities::build)
    }

    fn build() -> Cities {
        struct Row<'a> {
            id: &'a str,
            name: &'a str,
            parent: &'a str,
            deep: &'a str,
            short: &'a str,
            pinyin: &'a str,
        }
        let mut rows = Vec::new();
        for line in CNCITY.lines().skip(1) {
            let f = split_csv(line);
            if f.len() < 9 {
                continue;
            }
            rows.push(Row {
                id: f[0],
                name: f[1],
                parent: f[2],
                deep: f[3],
                short: f[4],
                pinyin: f[8],
            });
        }
        let by_id: HashMap<&str, &str> = rows.iter().map(|r| (r.id, r.name)).collect();
        let mut city = HashMap::new();
        let mut names = Vec::new();
        // Municipalities' districts are listed at depth 2 under a "…0100" parent the file
        // does not have; real prefectures have a province as parent.
        let is_city = |r: &Row| {
            (r.deep == "2" && by_id.contains_key(r.parent))
                || (r.deep == "1" && (r.name.ends_with('市') || r.name.ends_with("特别行政区")))
        };
        for r in rows.iter().filter(|r| is_city(r)) {
            // Prefectures whose name is a placeholder ("市辖区") are skipped.
            if r.name.contains("辖") {
                continue;
            }
            names.push(r.name.to_string());
            city.entry(r.name.to_string())
                .or_insert_with(|| r.name.to_string());
            if !r.short.is_empty() {
                city.entry(r.short.to_string())
                    .or_insert_with(|| r.name.to_string());
            }
            if !r.pinyin.is_empty() {
                city.entry(r.pinyin.to_lowercase())
                    .or_insert_with(|| r.name.to_string());
            }
        }
        let mut district = HashMap::new();
        for r in rows
            .iter()
            .filter(|r| r.deep == "3" || (r.deep == "2" && !is_city(r)))
        {
            // A municipality's districts point at a "…0100" parent that the file does not list.
            let parent = by_id.get(r.parent).copied().or_else(|| {
                let prov = format!("{}0000", &r.parent[..r.parent.len().min(2)]);
                by_id.get(prov.as_str()).copied()
            });
            if let Some(p) = parent.filter(|p| city.contains_key(*p)) {
                let mut put = |k: &str| {
                    let e = district
                        .entry(k.to_string())
                        .or_insert_with(|| p.to_string());
                    // An ambiguous district name (南山区 is in 深圳 and 鹤岗) means the big city.
                    if !MAJOR.contains(&e.as_str()) && MAJOR.contains(&p) {
                        *e = p.to_string();
                    }
                };
                put(r.name);
                if r.short.chars().count() >= 2 {
                    put(r.short);
                }
            }
        }
        let mut scan: Vec<(String, String)> = city
            .iter()
            .filter(|(k, _)| !k.is_ascii() && k.chars().count() >= 2)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        scan.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        names.sort();
        names.dedup();
        Cities {
            city,
            district,
            scan,
            names,
        }
    }

    /// The city named by `location`, or `None` when none is recognised.
    pub fn normalize(&self, location: &str) -> Option<String> {
        let t = location.trim();
        if t.is_empty() {
            return None;
        }
        if let Some(c) = self
            .city
            .get(t)
            .or_else(|| self.city.get(&t.to_lowercase()))
        {
            return Some(c.clone());
        }
        if let Some(c) = self.district.get(t) {
            return Some(c.clone());
        }
        // Free text: the earliest city name mentioned, longest name first at a position.
        let mut best: Option<(usize, &str)> = None;
        for (k, v) in &self.scan {
            if let Some(i) = t.find(k.as_str()) {
                if best.is_none_or(|(b, _)| i < b) {
                    best = Some((i, v));
                }
            }
        }
        best.map(|(_, v)| v.to_string())
    }

    /// Every known city name (sorted).
    pub fn names(&self) -> &[String] {
        &self.names
    }
}

/// Splits one CSV line with optional double-quoted fields (no escaped quotes in this file).
fn split_csv(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(line[start..i].trim_matches('"'));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(line[start..].trim_matches('"'));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_names_short_names_pinyin_and_districts() {
        let c = Cities::bundled();
        assert_eq!(c.normalize("深圳").as_deref(), Some("深圳市"));
        assert_eq!(c.normalize("深圳市").as_deref(), Some("深圳市"));
        assert_eq!(c.normalize("Shenzhen").as_deref(), Some("深圳市"));
        assert_eq!(c.normalize("北京").as_deref(), Some("北京市"));
        assert_eq!(c.normalize("南山区").as_deref(), Some("深圳市"));
        assert_eq!(c.normalize("海淀区").as_deref(), Some("北京市"));
        assert_eq!(c.normalize("广东省深圳市南山区").as_deref(), Some("深圳市"));
        assert_eq!(c.normalize("上海 浦东").as_deref(), Some("上海市"));
        assert_eq!(c.normalize("火星"), None);
        assert!(c.names().len() > 300);
    }
}
