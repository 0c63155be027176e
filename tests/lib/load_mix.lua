-- wrk script for tests/integration/load_nginx.sh: requests a mix of manifests and segments.
--   wrk ... -s load_mix.lua http://127.0.0.1:PORT -- URLS_FILE
-- URLS_FILE holds one path a line (already percent-encoded, starting with "/"). Each thread
-- walks the list from its own starting point, so every URL is asked for throughout the run.
-- A response that is not 200 is counted per status; done() prints "status N count" lines and
-- "bad N" (the total of those), which the test reads, since wrk's own summary counts 3xx as
-- success.
local urls = {}
local threads = {}

local function load(path)
    local list = {}
    for line in io.lines(path) do
        if #line > 0 then list[#list + 1] = line end
    end
    return list
end

function setup(thread)
    thread:set("id", #threads)
    threads[#threads + 1] = thread
end

function init(args)
    urls = load(args[1])
    i = (id or 0) * 37 % #urls
    bad = 0
    statuses = {}
end

function request()
    i = i % #urls + 1
    return wrk.format("GET", urls[i])
end

function response(status, headers, body)
    if status ~= 200 then
        bad = bad + 1
        statuses[status] = (statuses[status] or 0) + 1
    end
end

function done(summary, latency, requests)
    local total, by = 0, {}
    for _, t in ipairs(threads) do
        total = total + t:get("bad")
        for s, n in pairs(t:get("statuses")) do by[s] = (by[s] or 0) + n end
    end
    for s, n in pairs(by) do io.write(string.format("status %d %d\n", s, n)) end
    io.write(string.format("bad %d\n", total))
    io.write(string.format("requests %d\n", summary.requests))
    local e = summary.errors
    io.write(string.format("socket_errors %d\n", e.connect + e.read + e.write + e.timeout))
end
