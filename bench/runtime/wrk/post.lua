-- POST the body in $BODY_FILE (with $AUTH_HEADER as Authorization when set); stop each thread
-- after $MAX_REQ responses; print one machine-readable RESULT line (latencies in microseconds).
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("AUTH_HEADER")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end

local max_req = tonumber(os.getenv("MAX_REQ") or "5000000")
local count = 0
local statuses = {}
response = function(status, headers, body)
  count = count + 1
  if count >= max_req then wrk.thread:stop() end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests":%d,"duration_us":%d,"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
