-- wrk script for bench/serve.sh: GET the paths of a list file (one per line) in turn,
-- round and round, and print one machine-readable summary line at the end.
--   wrk -t1 -c4 -d10s -s bench/rotate.lua http://127.0.0.1:PORT -- LISTFILE
local paths, n, i = {}, 0, 0

function init(args)
   for line in io.lines(args[1]) do
      if line ~= "" then
         n = n + 1
         paths[n] = line
      end
   end
   if n == 0 then
      error("rotate.lua: no paths in " .. tostring(args[1]))
   end
end

function request()
   i = i % n + 1
   return wrk.format("GET", paths[i])
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "wrk: requests=%d bytes=%d duration_us=%d errors=%d status_errors=%d p50_us=%d p99_us=%d\n",
      summary.requests, summary.bytes, summary.duration,
      e.connect + e.read + e.write + e.timeout, e.status,
      latency:percentile(50), latency:percentile(99)))
end
