/** Reading agents' round logs (`.tt/logs/<agent>_round_<N>.log`). */
import type { TownContext } from "../core/town.ts";
import type { Agent } from "../core/schemas.ts";
import { NotFoundError } from "../core/errors.ts";

export function roundLogPath(root: string, agent: string, round: number): string {
  return `${root}/.tt/logs/${agent}_round_${round}.log`;
}

/** Round numbers that have a log, ascending. */
export async function loggedRounds(root: string, agent: string): Promise<number[]> {
  const rounds: number[] = [];
  const prefix = `${agent}_round_`;
  try {
    for await (const e of Deno.readDir(`${root}/.tt/logs`)) {
      if (e.name.startsWith(prefix) && e.name.endsWith(".log")) {
        const n = Number(e.name.slice(prefix.length, -4));
        if (Number.isInteger(n)) rounds.push(n);
      }
    }
  } catch { /* no logs yet */ }
  return rounds.sort((a, b) => a - b);
}

/** Copies a round's log to stdout; with `follow`, keeps copying as it grows (inotify). */
export async function showLog(
  t: TownContext,
  agent: Agent,
  round: number | undefined,
  follow: boolean,
) {
  const rounds = await loggedRounds(t.root, agent.name);
  const n = round ?? rounds.at(-1);
  if (n === undefined || !rounds.includes(n)) {
    throw new NotFoundError(
      round === undefined
        ? `${agent.name} has no round logs yet`
        : `${agent.name} has no log for round ${round} (rounds: ${rounds.join(", ") || "none"})`,
    );
  }
  const path = roundLogPath(t.root, agent.name, n);
  const file = await Deno.open(path);
  const buf = new Uint8Array(64 * 1024);
  const drain = async () => {
    for (let r = await file.read(buf); r !== null && r > 0; r = await file.read(buf)) {
      await Deno.stdout.write(buf.subarray(0, r));
    }
  };
  await drain();
  if (!follow) {
    file.close();
    return;
  }
  const watcher = Deno.watchFs(path);
  const stop = () => watcher.close();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    for await (const _ of watcher) await drain();
  } finally {
    file.close();
  }
}
