-- wrk script for scripts/bench.sh: one route of CONTRACT §3, user ids drawn
-- uniformly over the seeded users. Arguments (after wrk's `--`):
--   ROUTE USERS GOALS_PER_USER TOKENS_FILE [DELETE_LIST]
-- Seeded goal g (1-based) of user uN has id (N-1)*GOALS_PER_USER + g.
local threads, counter = {}, 1
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local route, users, goals, tokens, victims, n, del = nil, 0, 0, {}, {}, 0, 0
function init(args)
  route, users, goals = args[1], tonumber(args[2]), tonumber(args[3])
  tokens = dofile(args[4])
  math.randomseed(os.time() * 100 + tid)
  n = tid
  if args[5] then
    -- Goals to delete: "user goal" lines; thread t takes lines t, t+T, …
    local i = 0
    for line in io.lines(args[5]) do
      i = i + 1
      if i % tonumber(args[6]) == tid - 1 then table.insert(victims, line) end
    end
  end
end

local json = { ["Content-Type"] = "application/json" }
local function auth(u, extra)
  local h = { Authorization = "Bearer " .. tokens[u] }
  if extra then for k, v in pairs(extra) do h[k] = v end end
  return h
end

local handlers = {
  ["goal-list"] = function(u) return wrk.format("GET", "/users/u" .. u .. "/goals") end,
  ["badge-list"] = function(u) return wrk.format("GET", "/users/u" .. u .. "/badges") end,
  ["profile"] = function(u) return wrk.format("GET", "/users/u" .. u) end,
  ["me"] = function(u) return wrk.format("GET", "/users/me", auth(u)) end,
  ["activity"] = function(u) return wrk.format("GET", "/users/u" .. u .. "/activity") end,
  ["calendar"] = function(u) return wrk.format("GET", "/users/u" .. u .. "/activity/calendar") end,
  ["goal-create"] = function(u)
    return wrk.format("POST", "/users/u" .. u .. "/goals", auth(u, json), '{"title":"Bench goal","description":"made by wrk"}')
  end,
  ["goal-update"] = function(u)
    local id = (u - 1) * goals + math.random(1, goals)
    n = n + 1
    return wrk.format("PUT", "/users/u" .. u .. "/goals/" .. id, auth(u, json), '{"description":"edit ' .. n .. '"}')
  end,
  ["badge-create"] = function(u)
    n = n + 1
    return wrk.format("POST", "/users/u" .. u .. "/badges", auth(u, json),
      '{"name":"Bench ' .. tid .. "-" .. n .. "-" .. math.random(1, 1000000000) .. '"}')
  end,
  ["check-in"] = function(u)
    local id = (u - 1) * goals + math.random(1, goals)
    return wrk.format("POST", "/users/u" .. u .. "/goals/" .. id .. "/check-ins", auth(u, json), '{"minutes":25}')
  end,
  ["goal-delete"] = function(_)
    del = del + 1
    local line = victims[(del - 1) % #victims + 1]
    local user, id = line:match("^(%S+)%s+(%S+)$")
    local u = tonumber(user:sub(2))
    return wrk.format("DELETE", "/users/" .. user .. "/goals/" .. id, auth(u))
  end,
}

request = function()
  return handlers[route](math.random(1, users))
end
