/**
 * A task's check (`tt assign --verify "<command>"`): the command runs in the agent's working
 * directory like a round (own process group, timeout, output appended to a log); only exit 0
 * passes. The end of its output goes back to the agent when it fails.
 */
import { type RunOptions, runRoundProcess } from "./process.ts";

export interface CheckResult {
  passed: boolean;
  /** "exit code 1", "timed out after 1800 s", … */
  detail: string;
  /** The last lines of the check's output (for the agent's next prompt and the human). */
  tail: string;
}

/** Verifications that may fail before the task fails for good. */
export const MAX_VERIFY_FAILURES = 3;

const TAIL_LINES = 40;
const TAIL_BYTES = 4096;

export async function runCheck(opts: Omit<RunOptions, "stdin">): Promise<CheckResult> {
  const header = new TextEncoder().encode(`\n== tt: verifying with: ${opts.command}\n`);
  await Deno.writeFile(opts.logFile, header, { append: true, create: true, mode: 0o600 });
  const from = (await Deno.stat(opts.logFile)).size;
  const r = await runRoundProcess(opts);
  return {
    passed: r.kind === "exited" && r.code === 0,
    detail: r.detail,
    tail: await readTail(opts.logFile, from),
  };
}

/** The last lines written to `path` after byte `from` (at most TAIL_BYTES of them). */
async function readTail(path: string, from: number): Promise<string> {
  const file = await Deno.open(path);
  try {
    const size = (await file.stat()).size;
    const start = Math.max(from, size - TAIL_BYTES);
    await file.seek(start, Deno.SeekMode.Start);
    const buf = new Uint8Array(size - start);
    let read = 0;
    while (read < buf.length) {
      const n = await file.read(buf.subarray(read));
      if (n === null) break;
      read += n;
    }
    const text = new TextDecoder().decode(buf.subarray(0, read)).trimEnd();
    return text.split("\n").slice(-TAIL_LINES).join("\n");
  } finally {
    file.close();
  }
}
