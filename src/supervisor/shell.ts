/** Shell words for the commands tt writes (rounds, service units, the self command). */

/** POSIX single-quoting. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
