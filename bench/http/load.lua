-- One call kind per wrk run, chosen by COOP_BENCH_CALL; per-request tokens and bodies.
-- COOP_BENCH_DATA names a Lua file returning {group_buy = id, products = {ids}, users = {{token, order, buy}, ...},
-- place_buys = {ids}, place_at_once = n}; a placement run starts at place_buys[COOP_BENCH_FIRST_BUY + 1].
local data = dofile(os.getenv("COOP_BENCH_DATA"))
local call = os.getenv("COOP_BENCH_CALL")
local first_buy = tonumber(os.getenv("COOP_BENCH_FIRST_BUY") or "0")
local at_once = data.place_at_once or 1
local users = data.users
local count = #users
local n = 0
local expected = 200
if call == "place" then
  expected = 201
end

local function lines(round)
  -- Every visit to an order changes every line, so each change writes its increments.
  local parts = {}
  for i, product in ipairs(data.products) do
    local quantity = (round + i) % 8 + 1
    parts[i] = string.format('{"product_id":"%d","quantity":%d,"flex_quantity":%d}', product, quantity, round % 2)
  end
  return '{"lines":[' .. table.concat(parts, ",") .. ']}'
end

request = function()
  if call == "place" then
    -- Every member once into a buy, then all of them into the next: the connections place
    -- into one buy at a time, and no member places twice into one (that would be a 409).
    -- As place_target in __main__.py: blocks of at_once buys, round j of the block placing
    -- member m into buy (m + j) mod at_once.
    local block = math.floor(n / (count * at_once))
    local k = n % (count * at_once)
    local m = k % count
    local j = math.floor(k / count)
    local placer = users[m + 1]
    local buy = data.place_buys[first_buy + block * at_once + (m + j) % at_once + 1] or 0
    n = n + 1
    local headers = { ["Authorization"] = "Bearer " .. placer[1], ["Content-Type"] = "application/json" }
    return wrk.format("POST", "/v1/group-buys/" .. buy .. "/orders", headers, lines(n))
  end
  n = n + 1
  local user = users[(n % count) + 1]
  local auth = { ["Authorization"] = "Bearer " .. user[1] }
  if call == "change" then
    auth["Content-Type"] = "application/json"
    return wrk.format("PUT", "/v1/orders/" .. user[2], auth, lines(math.floor(n / count)))
  elseif call == "group_buy" then
    return wrk.format("GET", "/v1/group-buys/" .. user[3], auth)
  elseif call == "me" then
    return wrk.format("GET", "/v1/me", auth)
  end
  return wrk.format("GET", "/health")
end

local failed = 0
response = function(status, headers, body)
  if status ~= expected then
    failed = failed + 1
    if failed <= 3 then
      io.stderr:write("unexpected " .. status .. ": " .. string.sub(body, 1, 300) .. "\n")
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout
  ))
end
