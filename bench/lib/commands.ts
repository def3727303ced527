/**
 * Wall-clock timing of whole commands (start-up benchmarks): hyperfine when present, else an
 * internal loop. Either way the commands of a group are run in alternating order (hyperfine: two
 * passes, the second reversed; internal: interleaved round by round), so a slow patch of a noisy
 * machine does not land on one command only.
 */
import { summarize, type Summary } from "./stats.ts";

export interface Cmd {
  name: string;
  argv: string[];
}

export interface Group {
  cwd: string;
  env: Record<string, string>;
  cmds: Cmd[];
  runs: number;
  warmup: number;
}

export interface Timing {
  samples: number[];
  summary: Summary;
}

const dec = new TextDecoder();

/** Runs a command once and fails with its output unless it exits 0. */
export async function runOnce(g: Pick<Group, "cwd" | "env">, c: Cmd): Promise<string> {
  const out = await new Deno.Command(c.argv[0], {
    args: c.argv.slice(1),
    cwd: g.cwd,
    env: g.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `'${c.argv.join(" ")}' exited ${out.code}: ${dec.decode(out.stderr).trim().slice(0, 500)}`,
    );
  }
  return dec.decode(out.stdout);
}

export async function findHyperfine(): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const p = `${dir}/hyperfine`;
      if ((await Deno.stat(p)).isFile) return p;
    } catch { /* not here */ }
  }
  return null;
}

const quote = (a: string) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;

async function hyperfinePass(
  hyperfine: string,
  g: Group,
  cmds: Cmd[],
  runs: number,
  out: string,
): Promise<Record<string, number[]>> {
  const args = [
    "-N",
    "--style",
    "none",
    "--warmup",
    String(g.warmup),
    "--runs",
    String(runs),
    "--export-json",
    out,
  ];
  for (const c of cmds) args.push("-n", c.name, c.argv.map(quote).join(" "));
  const r = await new Deno.Command(hyperfine, {
    args,
    cwd: g.cwd,
    env: g.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!r.success) {
    // hyperfine does not say which command failed: find it.
    for (const c of cmds) await runOnce(g, c);
    throw new Error(
      `hyperfine failed (${dec.decode(r.stderr).trim()}), yet every command passes alone now`,
    );
  }
  const json = JSON.parse(await Deno.readTextFile(out)) as {
    results: { command: string; times: number[] }[];
  };
  return Object.fromEntries(json.results.map((x) => [x.command, x.times.map((s) => s * 1000)]));
}

/** Times every command of the group; returns samples (ms) per command name. */
export async function timeGroup(
  g: Group,
  hyperfine: string | null,
  tmp: string,
): Promise<Record<string, Timing>> {
  for (const c of g.cmds) await runOnce(g, c); // fail early, with the command's own message
  const samples: Record<string, number[]> = Object.fromEntries(g.cmds.map((c) => [c.name, []]));
  if (hyperfine) {
    const half = Math.ceil(g.runs / 2);
    for (const [i, order] of [g.cmds, [...g.cmds].reverse()].entries()) {
      const got = await hyperfinePass(hyperfine, g, order, half, `${tmp}/hyperfine-${i}.json`);
      for (const [name, t] of Object.entries(got)) samples[name].push(...t);
    }
  } else {
    for (let round = 0; round < g.warmup + g.runs; round++) {
      const order = round % 2 ? [...g.cmds].reverse() : g.cmds;
      for (const c of order) {
        const t0 = performance.now();
        const out = await new Deno.Command(c.argv[0], {
          args: c.argv.slice(1),
          cwd: g.cwd,
          env: g.env,
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).output();
        const dt = performance.now() - t0;
        if (!out.success) throw new Error(`'${c.argv.join(" ")}' exited ${out.code}`);
        if (round >= g.warmup) samples[c.name].push(dt);
      }
    }
  }
  return Object.fromEntries(
    Object.entries(samples).map(([k, s]) => [k, { samples: s, summary: summarize(s) }]),
  );
}
