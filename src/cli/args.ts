/**
 * Argument parsers shared by commands. They do not import commander: the lean path
 * (src/cli/lean.ts) loads the command modules without it, and commander's import alone costs
 * more than a whole short command.
 */

/**
 * An error commander reports as it reports its own InvalidArgumentError ("error: option '…'
 * argument '…' is invalid. <message>"): its parser checks the code and takes the exit code.
 */
export function invalidArgument(message: string): Error {
  return Object.assign(new Error(message), { code: "commander.invalidArgument", exitCode: 1 });
}

/** A parser of whole numbers from `min` (to `max` when given). */
export function wholeNumber(min: number, max?: number): (v: string) => number {
  return (v: string) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < min || (max !== undefined && n > max)) {
      throw invalidArgument(
        max === undefined
          ? `expected a whole number ≥ ${min}`
          : `expected a whole number from ${min} to ${max}`,
      );
    }
    return n;
  };
}
