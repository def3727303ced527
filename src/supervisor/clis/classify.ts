/**
 * Error kinds from a CLI's own words, for messages that carry no machine-readable code, and the
 * reset time of a usage limit ("try again at 3:28 PM", "resets 4pm (Europe/Paris)",
 * "try again in 3 days 6 hours 57 minutes", claude's older "limit reached|<epoch seconds>").
 */
import { type CliError, type CliErrorKind, oneLine } from "./types.ts";

const RULES: [CliErrorKind, RegExp][] = [
  ["setup", /cannot be used with root\/sudo|not running in a trusted directory|--skip-trust/i],
  [
    "usage_limit",
    /usage limit|hit your (usage )?limit|limit reached|rate[ _-]?limit|quota|too many requests|\b429\b|out of credits|credit balance is too low/i,
  ],
  [
    "auth",
    /not logged in|please run \/login|\blog ?in\b.*(required|first)|invalid (x-)?api[ _-]?key|api key (is )?(missing|not set|invalid)|no auth(entication)? (provided|information)|authentication (failed|required|error)|unauthori[sz]ed|\b401\b|set an auth method|invalid_api_key|not authenticated|token (is )?(expired|invalid)/i,
  ],
  [
    "network",
    /reconnecting|name does not resolve|failed to lookup address|getaddrinfo|ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|connection (failed|refused|reset)|network (error|unreachable)|stream disconnected|error sending request/i,
  ],
];

/** The kind a message names, or undefined when it names none of them. */
export function kindOf(message: string): CliErrorKind | undefined {
  for (const [kind, re] of RULES) if (re.test(message)) return kind;
  return undefined;
}

/** A typed error from a message; `fallback` when it names no known kind. */
export function errorFrom(
  message: string,
  fallback: CliErrorKind = "cli",
  now = new Date(),
): CliError {
  const kind = kindOf(message) ?? fallback;
  const err: CliError = { kind, message: oneLine(message) };
  if (kind === "usage_limit") {
    const at = resetTime(message, now);
    if (at) err.resetAt = at.toISOString();
  }
  return err;
}

const UNITS: Record<string, number> = {
  d: 86_400_000,
  day: 86_400_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  s: 1000,
  sec: 1000,
  second: 1000,
};

/** When a usage limit resets, from the CLI's message; undefined if it does not say. */
export function resetTime(message: string, now = new Date()): Date | undefined {
  const epoch = message.match(/\|(\d{10})\b/);
  if (epoch) return new Date(Number(epoch[1]) * 1000);
  const iso = message.match(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})/);
  if (iso && !Number.isNaN(Date.parse(iso[0]))) return new Date(iso[0]);
  const rel = message.match(
    /\b(?:in|after)\s+((?:\d+\s*(?:days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)(?![a-z])[\s,and]*)+)/i,
  );
  if (rel) {
    let ms = 0;
    for (const [, n, u] of rel[1].matchAll(/(\d+)\s*([a-z]+)/gi)) {
      const lower = u.toLowerCase();
      const unit = lower.length > 1 ? lower.replace(/s$/, "") : lower;
      ms += Number(n) * (UNITS[unit] ?? UNITS[unit[0]] ?? 0);
    }
    if (ms > 0) return new Date(now.getTime() + ms);
  }
  // "try again at Aug 8th, 2026 12:30 PM", "Try again Aug 18."
  const dated = message.match(
    /\b((?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?\s+\d{1,2})(?:st|nd|rd|th)?(,?\s+\d{4})?(\s+\d{1,2}(?::\d{2})?\s*[ap]\.?m\.?)?/i,
  );
  if (dated) {
    const year = dated[2]?.replace(/\D/g, "") || String(now.getFullYear());
    const time = dated[3] ? to24h(dated[3].trim()) : "00:00";
    const d = new Date(`${dated[1]} ${year} ${time}`);
    if (!Number.isNaN(d.getTime())) {
      if (!dated[2] && d.getTime() < now.getTime()) d.setFullYear(d.getFullYear() + 1);
      return d;
    }
  }
  // "try again at 3:28 PM", "resets 4pm (Europe/Paris)", "resets at 15:00"
  const clock = message.match(
    /\b(?:at|resets?(?:\s+at)?)\s+(\d{1,2})(?::(\d{2}))?\s*([ap])?\.?m?\.?(?:\s*\(([A-Za-z_]+\/[A-Za-z_\/]+|UTC)\))?/i,
  );
  if (clock && (clock[2] || clock[3])) {
    let h = Number(clock[1]) % 12;
    if (!clock[3]) h = Number(clock[1]);
    else if (clock[3].toLowerCase() === "p") h += 12;
    const min = Number(clock[2] ?? 0);
    if (h > 23 || min > 59) return undefined;
    return nextClockTime(now, h, min, clock[4]);
  }
  return undefined;
}

function to24h(s: string): string {
  const m = s.match(/(\d{1,2})(?::(\d{2}))?\s*([ap])/i);
  if (!m) return "00:00";
  const h = (Number(m[1]) % 12) + (m[3].toLowerCase() === "p" ? 12 : 0);
  return `${String(h).padStart(2, "0")}:${m[2] ?? "00"}`;
}

/** Offset (ms) of a time zone from UTC at `at`; 0 for an unknown zone. */
function zoneOffset(at: Date, zone: string): number {
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-US", {
        timeZone: zone,
        hourCycle: "h23",
        year: "numeric",
        month: "2-digit",
        day: "2-digit",
        hour: "2-digit",
        minute: "2-digit",
        second: "2-digit",
      }).formatToParts(at).map((p) => [p.type, p.value]),
    );
    const asUtc = Date.UTC(
      Number(parts.year),
      Number(parts.month) - 1,
      Number(parts.day),
      Number(parts.hour),
      Number(parts.minute),
      Number(parts.second),
    );
    return asUtc - Math.floor(at.getTime() / 1000) * 1000;
  } catch {
    return 0;
  }
}

/** The next moment after `now` whose wall clock (in `zone`, else local time) reads h:min. */
function nextClockTime(now: Date, h: number, min: number, zone?: string): Date {
  if (!zone) {
    const d = new Date(now);
    d.setHours(h, min, 0, 0);
    if (d.getTime() <= now.getTime()) d.setDate(d.getDate() + 1);
    return d;
  }
  const off = zoneOffset(now, zone);
  const wall = new Date(now.getTime() + off); // wall-clock time in the zone, as UTC fields
  let t = Date.UTC(wall.getUTCFullYear(), wall.getUTCMonth(), wall.getUTCDate(), h, min) - off;
  if (t <= now.getTime()) t += 86_400_000;
  return new Date(t);
}
