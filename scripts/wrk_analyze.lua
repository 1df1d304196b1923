-- wrk script for the burst of the rebuild phase of scripts/load_mixed.sh: POST
-- /api/v1/analyze/job re-analysing existing jobs (ids 1..JOBS), each with a new description,
-- as fast as the connections go, so a full rebuild of the jobs index becomes due.
local jobs = tonumber(os.getenv("JOBS") or "100000")
local counter = 0
request = function()
  counter = counter + 1
  local id = (counter * 104729) % jobs + 1
  local body = string.format(
    '{"job_id": %d, "job_data": {"title": "后端工程师", "company": "星河科技", "location": "深圳", ' ..
    '"description": "负责服务端开发与性能优化，第%d次写入", "requirements": "3-5年经验，熟悉Go、MySQL、Redis", ' ..
    '"salary_min": 20000, "salary_max": 35000, "industry": "互联网"}}', id, counter)
  return wrk.format("POST", "/api/v1/analyze/job", { ["Content-Type"] = "application/json" }, body)
end
