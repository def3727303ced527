/** The command table. Group modules only define commands; each action loads what it needs. */
import { Command } from "@commander-js/extra-typings";
import { VERSION } from "../version.ts";
import { escapeText } from "./output.ts";
import { ROOT_OPTIONS, VERSION_FLAGS } from "./lean.ts";
import * as town from "./town.ts";
import * as agent from "./agent.ts";
import * as message from "./message.ts";
import * as task from "./task.ts";
import * as backlog from "./backlog.ts";
import * as plan from "./plan.ts";
import * as events from "./events.ts";
import * as admin from "./admin.ts";
import * as townhall from "./townhall.ts";
import * as dashboard from "./dashboard.ts";
import * as conductor from "./conductor.ts";
import * as demo from "./demo.ts";
import * as doctor from "./doctor.ts";
import * as completion from "./completion.ts";
import * as mission from "./mission.ts";
import * as usage from "./usage.ts";

export function buildProgram() {
  const program = new Command("tt")
    .description(
      "Tinytown: a small, fast orchestrator for AI coding agents, coordinated through Redis.",
    )
    .version(VERSION, VERSION_FLAGS)
    .option(ROOT_OPTIONS[0][0], ROOT_OPTIONS[0][1])
    .option(ROOT_OPTIONS[1][0], ROOT_OPTIONS[1][1])
    .showSuggestionAfterError()
    // Usage errors quote the arguments: shown escaped like every other human text.
    .configureOutput({ outputError: (s, write) => write(escapeText(s)) })
    .exitOverride();
  program.configureHelp({ sortSubcommands: false });
  for (
    const group of [
      town,
      agent,
      message,
      task,
      backlog,
      plan,
      events,
      admin,
      townhall,
      dashboard,
      conductor,
      demo,
      mission,
      usage,
      doctor,
      completion,
    ]
  ) {
    group.register(program);
  }
  // Subcommands inherit exitOverride so usage errors come back to main() with an exit code.
  const inherit = (cmd: Command<unknown[], Record<string, unknown>>) => {
    for (const sub of cmd.commands) {
      sub.exitOverride();
      inherit(sub as Command<unknown[], Record<string, unknown>>);
    }
  };
  inherit(program as unknown as Command<unknown[], Record<string, unknown>>);
  return program;
}

export type Program = ReturnType<typeof buildProgram>;
