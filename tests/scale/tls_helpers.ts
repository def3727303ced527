/**
 * Shared by tls_test.ts and mtls_test.ts: a sandbox whose every tt gets extra environment (how
 * it trusts the test CA) and keeps what each printed, the running supervisor's --allow-read
 * list, and "tt init is refused with one line and writes nothing".
 */
import assert from "node:assert/strict";
import { Sandbox, type TtOptions, type TtResult, uniqueName } from "../helpers.ts";
import { fakeCli } from "../agent_helpers.ts";

/** A sandbox whose every tt runs with `extra` in its environment; `printed` is all they said. */
export class TrustingSandbox extends Sandbox {
  readonly extra: Record<string, string>;
  printed = "";
  /** `url` null: no REDIS_URL (the URL comes from tinytown.toml or ~/.tt/config.toml). */
  constructor(url: string | null, extra: Record<string, string>) {
    super(url);
    this.extra = { ...extra };
  }

  /**
   * A temp dir of its own (the supervisor may read its temp dir, which must not hold the CA or
   * the certificates), then init, spawn w1 (a fake CLI that completes), assign, wait: the task
   * is completed by w1. Returns `tt status`'s output.
   */
  async oneTaskDone(town: string, what: string): Promise<string> {
    const tmp = `${this.home}/tmp`;
    Deno.mkdirSync(tmp);
    this.extra.TMPDIR = tmp;
    await this.init(uniqueName(town));
    await this.ok(["spawn", "w1", "--cli", fakeCli("complete")]);
    const task = await this.json<{ id: string }>(["assign", "w1", what]);
    await this.ok(["wait", "--timeout", "60"]);
    const tasks = await this.json<{ id: string; state: string; result?: string }[]>([
      "task",
      "list",
    ]);
    const done = tasks.find((x) => x.id === task.id);
    assert.equal(done?.state, "completed");
    assert.equal(done?.result, "done by w1");
    const status = await this.ok(["status"]);
    assert.match(status.stdout, /\[w1\]/);
    assert.match(status.stdout, /1 completed/);
    return status.stdout;
  }
  override env(more: Record<string, string> = {}): Record<string, string> {
    return super.env({ ...this.extra, ...more });
  }
  override async tt(args: string[], opts: Partial<TtOptions> = {}): Promise<TtResult> {
    const r = await super.tt(args, opts);
    this.printed += `${r.stdout}\n${r.stderr}\n`;
    return r;
  }
}

/** The command line of the town's running supervisor (from ps). */
export async function supervisorLine(sb: Sandbox): Promise<string> {
  const out = await new Deno.Command("ps", { args: ["-eo", "args"], stdout: "piped" }).output();
  const line = new TextDecoder().decode(out.stdout).split("\n")
    .find((l) => l.includes(`--town ${sb.dir} supervise`));
  assert.ok(line, "no supervisor running for the town");
  return line;
}

/** The --allow-read list of the town's running supervisor (from its command line). */
export async function supervisorReads(sb: Sandbox): Promise<string[]> {
  const line = await supervisorLine(sb);
  const flag = /--allow-read=(\S+)/.exec(line);
  assert.ok(flag, `the supervisor has no scoped --allow-read: ${line}`);
  return flag[1].split(",");
}

/**
 * `tt init` at `url` fails with one line matching `re`, exit 1, no stack trace, none of the
 * `secrets`, and writes nothing.
 */
export async function refused(
  url: string,
  trust: Record<string, string>,
  re: RegExp,
  secrets: RegExp,
) {
  const sb = new TrustingSandbox(url, trust);
  try {
    const r = await sb.tt(["init", "--name", uniqueName("tls")]);
    assert.equal(r.code, 1, `${url}: ${r.stdout}${r.stderr}`);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.match(r.stderr, re);
    assert.doesNotMatch(r.stderr, /\n\s+at |Error:/); // no stack trace
    assert.doesNotMatch(r.stderr, secrets);
    assert.deepEqual([...Deno.readDirSync(sb.dir)], []);
  } finally {
    sb.cleanup();
  }
}

/** Why the TLS topology tests cannot run here (no openssl), if they cannot. */
export function noOpenssl(): string | undefined {
  try {
    new Deno.Command("openssl", { args: ["version"], stdout: "null", stderr: "null" })
      .outputSync();
    return undefined;
  } catch {
    return "openssl is not installed";
  }
}
