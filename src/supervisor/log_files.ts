/**
 * Where agents' round logs are (`.tt/logs/<agent>_round_<N>.log`), and removing them: what
 * `tt spawn` and `tt restart` need, without the log reader (logs.ts) and the CLI families it loads.
 */

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

/**
 * Deletes an agent name's round logs. Round numbers start at 1 again when an agent is restarted or
 * a name is spawned again, and a new round must not append to (or be shadowed by) an old one.
 */
export async function removeRoundLogs(root: string, agent: string) {
  for (const n of await loggedRounds(root, agent)) {
    await Deno.remove(roundLogPath(root, agent, n)).catch(() => {});
  }
}
