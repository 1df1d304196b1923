-- wrk script for the mixed load of scripts/load_mixed.sh: of every 20 requests, 14 are
-- POST /api/v1/recommend/jobs (users 1..USERS), 4 POST /api/v1/search/jobs (a rotating
-- query) and 2 POST /api/v1/analyze/job re-analysing an existing job (ids 1..JOBS), so the
-- data size stays the same however long it runs. ONLY=analyze: every request is a
-- re-analysis (the burst of the rebuild phase); ONLY=recommend: every request is a
-- recommendation (the soak's warm-up of the feature cache, without writes).
local users = tonumber(os.getenv("USERS") or "20000")
local jobs = tonumber(os.getenv("JOBS") or "100000")
local counter = 0
local only_analyze = os.getenv("ONLY") == "analyze"
local only_recommend = os.getenv("ONLY") == "recommend"
local queries = {
  "Java后端工程师 微服务", "前端开发 React", "数据分析师 SQL", "产品经理 B端",
  "Rust系统工程师", "算法工程师 推荐系统", "运维工程师 Kubernetes", "测试工程师 自动化",
}
local cities = { "北京", "上海", "深圳", "杭州", "成都", "广州" }

request = function()
  counter = counter + 1
  local slot = (only_analyze and 19) or (only_recommend and 0) or counter % 20
  if slot < 14 then
    local u = (counter * 7919) % users + 1
    local body = string.format('{"user_id": %d, "limit": 10}', u)
    return wrk.format("POST", "/api/v1/recommend/jobs", { ["Content-Type"] = "application/json" }, body)
  elseif slot < 18 then
    local q = queries[(counter % #queries) + 1]
    local body = string.format('{"query": "%s", "limit": 10}', q)
    return wrk.format("POST", "/api/v1/search/jobs", { ["Content-Type"] = "application/json" }, body)
  else
    local id = (counter * 104729) % jobs + 1
    local city = cities[(counter % #cities) + 1]
    local body = string.format(
      '{"job_id": %d, "job_data": {"title": "后端工程师", "company": "星河科技", "location": "%s", ' ..
      '"description": "负责服务端开发与性能优化，第%d次更新", "requirements": "3-5年经验，熟悉Go、MySQL、Redis", ' ..
      '"salary_min": 20000, "salary_max": 35000, "industry": "互联网"}}', id, city, counter)
    return wrk.format("POST", "/api/v1/analyze/job", { ["Content-Type"] = "application/json" }, body)
  end
end
