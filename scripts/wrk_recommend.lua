-- wrk script: POST /api/v1/recommend/jobs for users 1..USERS (env, default 20000), cycling
-- through them in a scattered order; FILTER=city adds a location filter (1% of the jobs).
local users = tonumber(os.getenv("USERS") or "20000")
local filter = os.getenv("FILTER_CITY")
local counter = 0

request = function()
  counter = counter + 1
  local u = (counter * 7919) % users + 1
  local body
  if filter and filter ~= "" then
    body = string.format('{"user_id": %d, "limit": 10, "filters": {"location": "%s"}}', u, filter)
  else
    body = string.format('{"user_id": %d, "limit": 10}', u)
  end
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json" }, body)
end
