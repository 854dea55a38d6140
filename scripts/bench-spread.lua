-- wrk script for scripts/bench-goals.sh BENCH_MODE=spread: each request
-- lists the goals of one of 1,000 users, drawn at random.
math.randomseed(os.time())
request = function()
  return wrk.format("GET", "/users/user" .. math.random(1, 1000) .. "/goals")
end
