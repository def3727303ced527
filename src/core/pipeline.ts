/** Replies of a pipeline (or MULTI) run, in order; the first command that failed throws its error. */
export const execValues = <T>(res: [Error | null, unknown][] | null): T[] =>
  (res ?? []).map(([err, v]) => {
    if (err) throw err;
    return v as T;
  });
