/** townhall commands (being written). */
import type { Command } from "@commander-js/extra-typings";

export function register(_program: Command) {}
