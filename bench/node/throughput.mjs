// BullMQ throughput, the peer of bench/fixtures/throughput_tt.ts (runs under Node; see
// bench/sections/throughput.ts).
//
//   node throughput.mjs <redis unix socket> [jobs=5000] [concurrency=1] [window=50]
//
// One Worker with a no-op processor at concurrency C runs while a producer in the same process
// adds the jobs one by one (at most `window` adds in flight; removeOnComplete), as the tt side
// assigns its tasks. Timed from the first add until the last job completed. Prints one JSON
// line: {"jobs", "concurrency", "seconds", "jobs_per_sec", "add_seconds"}.
import { Queue, Worker } from "bullmq";

const [socket, jobsArg = "5000", concurrencyArg = "1", windowArg = "50"] = process.argv.slice(2);
if (!socket) {
  console.error("usage: node throughput.mjs <redis unix socket> [jobs] [concurrency] [window]");
  process.exit(2);
}
const jobs = Number(jobsArg);
const concurrency = Number(concurrencyArg);
const window = Number(windowArg);
const connection = { path: socket, maxRetriesPerRequest: null };
const name = `tt-bench-${process.pid}-${Date.now()}`;

const queue = new Queue(name, { connection });
const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: false });
const timeout = setTimeout(() => {
  console.error(`bullmq: timed out with jobs left (${jobs} added)`);
  process.exit(1);
}, 300_000);
try {
  await queue.waitUntilReady();
  await worker.waitUntilReady();
  let done = 0;
  let failed = 0;
  const finished = new Promise((resolve) => {
    const check = () => done + failed >= jobs && resolve();
    worker.on("completed", () => {
      done++;
      check();
    });
    worker.on("failed", () => {
      failed++;
      check();
    });
  });
  worker.run();
  // Let the worker reach its blocking wait for jobs before the clock starts.
  await new Promise((r) => setTimeout(r, 200));

  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(window, jobs) }, async () => {
    while (next < jobs) {
      const i = next++;
      await queue.add("job", { i }, { removeOnComplete: true, removeOnFail: true });
    }
  }));
  const addSeconds = (performance.now() - t0) / 1000;
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  if (failed) throw new Error(`${failed} jobs failed`);
  console.log(JSON.stringify({
    jobs,
    concurrency,
    seconds: Math.round(seconds * 1000) / 1000,
    jobs_per_sec: Math.round(jobs / seconds),
    add_seconds: Math.round(addSeconds * 1000) / 1000,
  }));
} finally {
  clearTimeout(timeout);
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
}
