-- wrk script for the study answer endpoint: each thread sends its share of a prepared answer
-- list (one `address<TAB>JSON body` per line, interleaved across participants; the address goes
-- in X-Forwarded-For, the server trusting the bench as its proxy) exactly once, then idles on
-- /healthz, optionally pacing each connection (think time); done() prints how many answers were acknowledged (HTTP 200) and the other statuses.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  csrf = args[3]
  -- Think time between one connection's requests (ms): 0 = back to back (saturation); with
  -- C connections, C * 1000 / think answers/s are offered (paced participants).
  think = tonumber(args[4] or "0")
  bodies = {}
  local i = 0
  -- each line: the participant's address, a tab, the JSON body
  clients = {}
  for line in io.lines(path) do
    if i % nthreads == tid then
      local ip, body = line:match("^([^\t]*)\t(.*)$")
      clients[#clients + 1] = ip
      bodies[#bodies + 1] = body
    end
    i = i + 1
  end
  idx = 0
  acked, refused, other, sent = 0, 0, 0, 0
  headers = {
    ["Content-Type"] = "application/json",
    ["x-csrf-token"] = csrf,
    ["Cookie"] = "mt_csrf=" .. csrf,
  }
  pending = {}
end

function delay()
  return think
end

function request()
  idx = idx + 1
  if idx <= #bodies then
    sent = sent + 1
    headers["X-Forwarded-For"] = clients[idx]
    return wrk.format("POST", "/s/api/answer", headers, bodies[idx])
  end
  return wrk.format("GET", "/healthz")
end

function response(status, hdrs, body)
  received = (received or 0) + 1
  if body ~= nil and string.sub(body, 1, 9) == '{"ok":tru' then
    acked = acked + 1
  elseif status == 200 then
    -- /healthz
  elseif status >= 400 and status < 500 then
    refused = refused + 1
  else
    other = other + 1
  end
  if received >= #bodies then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local a, r, o, s = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("acked"); r = r + t:get("refused"); o = o + t:get("other"); s = s + t:get("sent")
  end
  io.write(string.format("RESULT sent=%d acked=%d refused=%d other=%d errors_connect=%d errors_read=%d errors_timeout=%d\n",
    s, a, r, o, summary.errors.connect, summary.errors.read, summary.errors.timeout))
  io.write(string.format("RATE duration_s=%.2f requests=%d answers_per_s=%.0f\n",
    summary.duration / 1e6, summary.requests, a / (summary.duration / 1e6)))
  io.write(string.format("LATENCY p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
