/** `[agent] sandbox = "auto" | "on" | "off"` against what the probe found. */
import type { SandboxProbe } from "./probe.ts";

export type SandboxSetting = "auto" | "on" | "off";

export interface SandboxDecision {
  /** Run rounds in the sandbox. */
  on: boolean;
  /** For `on` where it cannot work: the one line that refuses to start the agent. */
  refusal?: string;
  /** Why the sandbox is off (for `tt status` and the agent's log). */
  why?: string;
}

/**
 * `off` ⇒ off. `auto` ⇒ on where the probe succeeded, else off with the probe's reason. `on` ⇒
 * on, or a refusal naming the reason and the fix when the probe failed.
 */
export function decideSandbox(setting: SandboxSetting, probe: SandboxProbe): SandboxDecision {
  if (setting === "off") return { on: false, why: `[agent] sandbox = "off"` };
  if (probe.ok) return { on: true };
  if (setting === "auto") return { on: false, why: `no sandbox here: ${probe.reason}` };
  return {
    on: false,
    refusal: `[agent] sandbox = "on" but ${probe.reason}: ${probe.fix} (or set sandbox = "auto")`,
    why: probe.reason,
  };
}
