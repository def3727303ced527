/**
 * Non-fatal problems the core notices (a password in tinytown.toml, a registry it could not
 * write). Each is reported once per process through one sink: stderr by default (the CLI's
 * behaviour), replaceable by a library user or a daemon with `setWarningSink`.
 */

let sink: (line: string) => void = (line) => console.error(`tt: warning: ${line}`);
const seen = new Set<string>();

/** Reports `message` once per process for each `key` (default: the message itself). */
export function warnOnce(message: string, key = message): void {
  if (seen.has(key)) return;
  seen.add(key);
  sink(message);
}

/** Where warnings go from now on. Returns the previous sink. */
export function setWarningSink(next: (line: string) => void): (line: string) => void {
  const prev = sink;
  sink = next;
  return prev;
}
