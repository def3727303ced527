// BullMQ throughput, the peer figure for bench/sections/throughput.ts (runs under Node).
//
//   node throughput.mjs <redis unix socket> [jobs=5000] [concurrency=1]
//
// Adds N jobs with addBulk (removeOnComplete), then times one Worker with a no-op processor at
// concurrency C from its start until the last job completed. Prints one JSON line:
// {"jobs", "concurrency", "seconds", "jobs_per_sec", "add_seconds"}.
import { Queue, Worker } from "bullmq";

const [socket, jobsArg = "5000", concurrencyArg = "1"] = process.argv.slice(2);
if (!socket) {
  console.error("usage: node throughput.mjs <redis unix socket> [jobs] [concurrency]");
  process.exit(2);
}
const jobs = Number(jobsArg);
const concurrency = Number(concurrencyArg);
const connection = { path: socket, maxRetriesPerRequest: null };
const name = `tt-bench-${process.pid}-${Date.now()}`;

const queue = new Queue(name, { connection });
const worker = new Worker(name, async () => {}, { connection, concurrency, autorun: false });
const timeout = setTimeout(() => {
  console.error(`bullmq: timed out with jobs left (${jobs} added)`);
  process.exit(1);
}, 300_000);
try {
  const t0 = performance.now();
  for (let i = 0; i < jobs; i += 1000) {
    const n = Math.min(1000, jobs - i);
    await queue.addBulk(Array.from({ length: n }, (_, k) => ({
      name: "job",
      data: { i: i + k },
      opts: { removeOnComplete: true, removeOnFail: true },
    })));
  }
  const addSeconds = (performance.now() - t0) / 1000;

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
  const t1 = performance.now();
  worker.run();
  await finished;
  const seconds = (performance.now() - t1) / 1000;
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
