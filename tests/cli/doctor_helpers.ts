/** Shared by the `tt doctor` black box tests (doctor_test.ts, doctor_town_test.ts). */
import assert from "node:assert/strict";
import type { Sandbox } from "../helpers.ts";
import type { CheckResult } from "../../src/core/doctor/mod.ts";

export interface Report {
  ok: boolean;
  checks: CheckResult[];
}

/** Runs `tt doctor --json` (any exit code) and its human form; both must agree. */
export async function doctor(sb: Sandbox, env: Record<string, string> = {}) {
  const json = await sb.tt(["doctor", "--json"], { env });
  const human = await sb.tt(["doctor"], { env });
  assert.equal(human.code, json.code, human.stderr);
  const report = JSON.parse(json.stdout) as Report;
  const by = (name: string) => {
    const c = report.checks.find((x) => x.name === name);
    assert.ok(c, `no check '${name}' in ${report.checks.map((x) => x.name).join(", ")}`);
    return c;
  };
  return { code: json.code, report, by, human: human.stdout, stderr: human.stderr };
}
