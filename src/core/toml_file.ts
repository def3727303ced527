/** TOML files: parsed with file:line:col errors, and written (smol-toml). */
import { parse as parseToml, stringify as stringifyToml, TomlError } from "smol-toml";
import { TtError } from "./errors.ts";

export { stringifyToml };

/** Parses TOML text, turning syntax errors into `file:line:col: what` messages. */
export function parseTomlFile(text: string, path: string): unknown {
  try {
    return parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const what = e.message.split("\n")[0].replace(/^Invalid TOML document: /, "");
      throw new TtError(`${path}:${e.line}:${e.column}: invalid TOML: ${what}`);
    }
    throw e;
  }
}
