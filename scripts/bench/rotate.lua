-- wrk script for the HTTP load benchmark (benches/load.rs): rotates through a file of
-- pre-built requests, one per line, tab-separated:
--
--   METHOD<TAB>PATH<TAB>BEARER-TOKEN (may be empty)<TAB>JSON BODY (may be empty)
--
-- so that one run spreads over many patients' access tokens, patient ids and login emails.
-- Every request is formatted once, in init(); request() only picks the next one.
--
--   wrk -t2 -c32 -d10s -s scripts/bench/rotate.lua http://127.0.0.1:8080 -- requests.tsv
--
-- At the end it prints one machine-readable line, `BENCH_RESULT {...}` (latencies in µs).

local requests = {}
local next_index = 0

function init(args)
  local path = args[1]
  if path == nil then
    error("usage: wrk ... -s rotate.lua <url> -- <requests-file>")
  end
  local file = assert(io.open(path, "r"))
  for line in file:lines() do
    if line ~= "" then
      local method, target, token, body = line:match("^([^\t]*)\t([^\t]*)\t([^\t]*)\t?(.*)$")
      if method == nil then
        error("bad request line: " .. line)
      end
      local headers = { ["Accept"] = "application/json" }
      if token ~= "" then
        headers["Authorization"] = "Bearer " .. token
      end
      if body == "" then
        body = nil
      else
        headers["Content-Type"] = "application/json"
      end
      requests[#requests + 1] = wrk.format(method, target, headers, body)
    end
  end
  file:close()
  if #requests == 0 then
    error("no requests in " .. path)
  end
  -- Threads start at different places in the list.
  next_index = math.random(#requests) - 1
end

function request()
  next_index = next_index % #requests + 1
  return requests[next_index]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,' ..
      '"non2xx":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration, latency:percentile(50.0), latency:percentile(90.0),
    latency:percentile(99.0), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end
