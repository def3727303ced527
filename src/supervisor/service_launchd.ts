/**
 * The macOS side of `tt service`: a launchd LaunchAgent (~/Library/LaunchAgents/<label>.plist)
 * that starts the town's supervisor at login and starts it again when it dies (KeepAlive with
 * SuccessfulExit = false: a supervisor that exits 0 because its agents are done stays down until a
 * tt command needs it, as with systemd's Restart=on-failure). Loaded with
 * `launchctl bootstrap gui/<uid> <plist>`, unloaded with `launchctl bootout gui/<uid>/<label>`.
 */

/** The job's label (reverse DNS, file-safe): also the plist's file name. */
export function launchdLabel(town: string): string {
  return `dev.tinytown.tt.${town.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+/, "_")}`;
}

export function launchAgentsDir(home: string): string {
  return `${home}/Library/LaunchAgents`;
}

/**
 * XML text of one string: the five markup characters escaped, and characters XML 1.0 cannot hold
 * (controls other than tab/newline, lone surrogates, U+FFFE/U+FFFF) replaced by a space.
 */
export function xmlText(s: string): string {
  let clean = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const high = c >= 0xd800 && c <= 0xdbff;
    const low = (n: number) => n >= 0xdc00 && n <= 0xdfff;
    if (high && i + 1 < s.length && low(s.charCodeAt(i + 1))) {
      clean += s[i] + s[i + 1]; // a surrogate pair: one character outside the BMP
      i++;
    } else if (
      (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || high || low(c) ||
      c === 0xfffe || c === 0xffff
    ) {
      clean += " ";
    } else clean += s[i];
  }
  return clean.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;").replaceAll("'", "&apos;");
}

const str = (s: string) => `<string>${xmlText(s)}</string>`;
const key = (s: string) => `<key>${xmlText(s)}</key>`;

export interface PlistInput {
  label: string;
  /** The supervisor's command line (argv, no shell). */
  program: string[];
  root: string;
  env: Record<string, string>;
}

export function plistText(p: PlistInput): string {
  const log = `${p.root}/.tt/logs/service.log`;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
    "<!-- Written by `tt service install`; `tt service uninstall` removes it. -->",
    '<plist version="1.0">',
    "<dict>",
    `  ${key("Label")}`,
    `  ${str(p.label)}`,
    `  ${key("ProgramArguments")}`,
    "  <array>",
    ...p.program.map((a) => `    ${str(a)}`),
    "  </array>",
    `  ${key("WorkingDirectory")}`,
    `  ${str(p.root)}`,
    `  ${key("EnvironmentVariables")}`,
    "  <dict>",
    ...Object.entries(p.env).flatMap(([k, v]) => [`    ${key(k)}`, `    ${str(v)}`]),
    "  </dict>",
    `  ${key("RunAtLoad")}`,
    "  <true/>",
    `  ${key("KeepAlive")}`,
    "  <dict>",
    `    ${key("SuccessfulExit")}`,
    "    <false/>",
    "  </dict>",
    `  ${key("ThrottleInterval")}`,
    "  <integer>2</integer>",
    `  ${key("ProcessType")}`,
    `  ${str("Background")}`,
    `  ${key("StandardOutPath")}`,
    `  ${str(log)}`,
    `  ${key("StandardErrorPath")}`,
    `  ${str(log)}`,
    "</dict>",
    "</plist>",
    "",
  ];
  return lines.join("\n");
}

/** The launchctl commands that load and unload the job (argv). */
export function launchctlCommands(uid: number, label: string, path: string) {
  const domain = `gui/${uid}`;
  return {
    load: ["launchctl", "bootstrap", domain, path],
    unload: ["launchctl", "bootout", `${domain}/${label}`],
  };
}
