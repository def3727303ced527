/** Errors that reach the user: one line saying what is wrong and, where useful, what to do. */

/** A failure the user can act on. `exitCode` 1 = failure, 2 = usage error. */
export class TtError extends Error {
  override name = "TtError";
  constructor(message: string, readonly exitCode = 1) {
    super(message);
  }
}

/** Bad arguments or input (exit code 2). */
export class UsageError extends TtError {
  override name = "UsageError";
  constructor(message: string) {
    super(message, 2);
  }
}

/** Something named by the user does not exist (agent, task, town…). */
export class NotFoundError extends TtError {
  override name = "NotFoundError";
}

/** The operation conflicts with the current state (task already completed, name in use…). */
export class ConflictError extends TtError {
  override name = "ConflictError";
}

/**
 * For `.catch`: a ConflictError is swallowed (the state moved on meanwhile, which is what the
 * caller wanted or no longer cares about); anything else is thrown again.
 */
export function ignoreConflict(e: unknown): void {
  if (!(e instanceof ConflictError)) throw e;
}

/**
 * Messages are one line, also when they quote a key, value or argument that holds a line break:
 * line breaks are shown escaped.
 */
export function singleLine(s: string): string {
  return s.replace(
    /[\n\r\u2028\u2029]/g,
    (c) => c === "\n" ? "\\n" : c === "\r" ? "\\r" : `\\u${c.charCodeAt(0).toString(16)}`,
  );
}
