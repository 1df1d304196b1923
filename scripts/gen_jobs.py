#!/usr/bin/env python3
"""Writes N job analysis bodies (JSON Lines, the body of POST /api/v1/analyze/job) for bulk
imports and benchmarks: titles and aliases from data/csco22_digital.csv, cities from
data/cncity.csv, skills from data/skills_en_curated.txt. Deterministic for a given --seed."""
import argparse, csv, json, random, os, re

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
ap = argparse.ArgumentParser()
ap.add_argument("--n", type=int, default=100_000)
ap.add_argument("--out", required=True)
ap.add_argument("--seed", type=int, default=7)
a = ap.parse_args()
rng = random.Random(a.seed)
titles = []
with open(os.path.join(here, "csco22_digital.csv"), encoding="utf-8") as f:
    for row in csv.DictReader(f):
        for t in {row["name"], *row["alias"].split(",")}:
            t = re.sub(r"(L/S|L|S)$", "", t.strip()).strip()
            if t:
                titles.append(t)
cities = []
with open(os.path.join(here, "cncity.csv"), encoding="utf-8") as f:
    for row in csv.DictReader(f):
        if row["deep"] == "2" and row["short_name"] not in ("市辖区", "县"):
            cities.append(row["short_name"])
skills = [l.strip() for l in open(os.path.join(here, "skills_en_curated.txt"), encoding="utf-8")
          if l.strip() and not l.startswith("#")]
industries = ["互联网", "金融", "制造业", "教育", "医疗健康", "电子商务", "游戏", "汽车"]
edus = ["大专", "本科", "硕士"]
os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
with open(a.out, "w", encoding="utf-8") as out:
    for i in range(1, a.n + 1):
        title = rng.choice(titles)
        city = rng.choice(cities)
        sk = rng.sample(skills, 4)
        lo = rng.randrange(5, 40) * 1000
        yrs = rng.choice(["1-3年", "3-5年", "5-10年", "不限"])
        job = {
            "title": title, "company": f"公司{rng.randrange(1, 5000)}", "location": city,
            "description": f"负责{title}相关工作，参与团队核心项目，使用{sk[0]}与{sk[1]}。",
            "requirements": f"{rng.choice(edus)}及以上，{yrs}经验，熟悉{'、'.join(sk)}。",
            "salary_min": lo, "salary_max": lo + rng.randrange(3, 20) * 1000,
            "industry": rng.choice(industries), "experience": yrs, "education": rng.choice(edus),
        }
        out.write(json.dumps({"job_id": i, "job_data": job}, ensure_ascii=False) + "\n")
