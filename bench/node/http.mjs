// HTTP load with autocannon, for the townhall section of scripts/bench (runs under Node).
//
//   node http.mjs '<json>'   json: {url, method?, headers?, body?, connections, seconds, warmup}
//
// A warm-up run of `warmup` seconds, then the measured run of `seconds`: `connections` keep-alive
// connections, no pipelining. Latencies come from autocannon's per-response event (sub-ms, unlike
// its own histogram, which counts whole milliseconds). Prints one JSON line:
// {"requests", "seconds", "rps", "p50", "p99", "max", "non2xx", "errors", "timeouts"}.
import autocannon from "autocannon";

const o = JSON.parse(process.argv[2] ?? "{}");
if (!o.url) {
  console.error("usage: node http.mjs '{\"url\": …, \"connections\": …, \"seconds\": …}'");
  process.exit(2);
}
const opts = (duration) => ({
  url: o.url,
  method: o.method ?? "GET",
  headers: o.headers ?? {},
  body: o.body,
  connections: o.connections ?? 10,
  pipelining: 1,
  duration,
});

if (o.warmup) await autocannon(opts(o.warmup));
const latencies = [];
const run = autocannon(opts(o.seconds ?? 5));
run.on("response", (_client, _status, _bytes, ms) => latencies.push(ms));
const r = await run;
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.max(0, Math.ceil(p * latencies.length) - 1))];
console.log(JSON.stringify({
  requests: latencies.length,
  seconds: r.duration,
  rps: latencies.length / r.duration,
  p50: q(0.5),
  p99: q(0.99),
  max: latencies[latencies.length - 1],
  non2xx: r.non2xx,
  errors: r.errors,
  timeouts: r.timeouts,
}));
