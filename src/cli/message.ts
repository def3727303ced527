/** Message commands: send, inbox. */
import type { Command } from "@commander-js/extra-typings";
import { callerIdentity, withTown } from "./context.ts";
import { clip, color, output } from "./output.ts";
import { UsageError } from "../core/errors.ts";
import type { Category, InboxView, TextKind } from "../core/messages.ts";

const MARK: Record<Category, string> = { task: "T", query: "Q", info: "I", confirmation: "C" };
const PREVIEWS = 10;
const ALL_PREVIEWS = 5;

export function register(program: Command) {
  program.command("send")
    .description("send a message to an agent, or to the conductor ('supervisor'/'conductor')")
    .argument("<to>", "agent name, nickname, 'Nick [role]', short id, or supervisor/conductor")
    .argument("<message>", "the text (up to 64 KiB)")
    .option(
      "--from <agent>",
      "sender (default: $TINYTOWN_AGENT_ID, $TINYTOWN_AGENT_NAME, else supervisor)",
    )
    .addOption(
      program.createOption("--query", "a question that needs an answer").conflicts(["info", "ack"]),
    )
    .addOption(
      program.createOption("--info", "for information only (FYI)").conflicts(["query", "ack"]),
    )
    .addOption(
      program.createOption("--ack", "an acknowledgement (received/approved/rejected…)").conflicts([
        "query",
        "info",
      ]),
    )
    .option("--urgent", "deliver before the rest of the inbox, at the start of the next round")
    .action(async (to, text, opts, cmd) => {
      await withTown(cmd, async (t, g) => {
        const { resolveRecipient } = await import("../core/agents.ts");
        const { resolveSender, sendMessage, textMessage } = await import("../core/messages.ts");
        const recipient = await resolveRecipient(t, to);
        const sender = await resolveSender(t, opts.from, callerIdentity());
        const k: TextKind = opts.query ? "query" : opts.info ? "info" : opts.ack ? "ack" : "task";
        const m = await sendMessage(t, textMessage(sender.id, recipient.id, text, k), {
          urgent: opts.urgent,
        });
        output(
          g.json,
          { message: m, to: recipient.label, from: sender.label, urgent: !!opts.urgent },
          () =>
            `Sent ${
              opts.urgent ? color.red("urgent ") : ""
            }${m.type} message to '${recipient.label}'${
              sender.kind === "agent" ? ` from '${sender.label}'` : ""
            }`,
        );
      });
    });

  program.command("inbox")
    .description(
      "show an agent's pending messages without taking them (urgent, queued, in progress)",
    )
    .argument("[agent]", "agent reference, or supervisor/conductor for the conductor's mailbox")
    .option("-a, --all", "every mailbox that has messages, and the conductor's")
    .action(async (ref, opts, cmd) => {
      if (!ref === !opts.all) {
        throw new UsageError("name one agent or pass --all: tt inbox <agent> | tt inbox --all");
      }
      await withTown(cmd, async (t, g) => {
        const { listAgents, agentLabel, SUPERVISOR, resolveRecipient } = await import(
          "../core/agents.ts"
        );
        const msgs = await import("../core/messages.ts");
        const agents = await listAgents(t);
        const labels = new Map<string, string>([[SUPERVISOR.id, SUPERVISOR.label]]);
        for (const a of agents) labels.set(a.id, agentLabel(a));
        const who = (id: string) => labels.get(id) ?? id.slice(0, 8);
        if (ref) {
          const { id } = await resolveRecipient(t, ref);
          const b = mailbox(msgs, id, who(id), (await msgs.peekInboxes(t, [id])).get(id)!);
          output(g.json, b, () => render(msgs, b, who, "all"));
          return;
        }
        const ids = [...agents.map((a) => a.id), SUPERVISOR.id];
        const views = await msgs.peekInboxes(t, ids);
        const boxes = ids.map((id) => mailbox(msgs, id, who(id), views.get(id)!))
          .filter((b) => total(b) > 0 || b.id === SUPERVISOR.id);
        const actionable = boxes.reduce((n, b) => n + b.categories.task + b.categories.query, 0);
        output(g.json, boxes, () => [
          ...boxes.flatMap((b) => render(msgs, b, who, "actionable")),
          `Total: ${actionable} actionable message(s)`,
        ]);
      });
    });
}

type Msgs = typeof import("../core/messages.ts");

interface Mailbox extends InboxView {
  id: string;
  label: string;
  categories: Record<Category, number>;
}

function mailbox(msgs: Msgs, id: string, label: string, v: InboxView): Mailbox {
  return {
    id,
    label,
    categories: msgs.countCategories([...v.processing, ...v.urgent, ...v.inbox]),
    ...v,
  };
}

const total = (b: Mailbox) => b.counts.processing + b.counts.urgent + b.counts.inbox;

/**
 * A heading with counts, then previews in delivery order: in progress, urgent, queued.
 * "actionable" (for --all) shows up to 5 tasks/questions, or the first 3 messages if none.
 */
function render(
  msgs: Msgs,
  b: Mailbox,
  who: (id: string) => string,
  mode: "all" | "actionable",
): string[] {
  const c = b.categories;
  const lines = [
    `${
      color.bold(b.label)
    }: ${b.counts.urgent} urgent, ${b.counts.inbox} queued, ${b.counts.processing} in progress — [T] ${c.task} [Q] ${c.query} [I] ${c.info} [C] ${c.confirmation}${
      b.unreadable ? color.yellow(` (${b.unreadable} unreadable)`) : ""
    }`,
  ];
  const all = [
    ...b.processing.map((m) => ({ m, where: "in progress" })),
    ...b.urgent.map((m) => ({ m, where: "urgent" })),
    ...b.inbox.map((m) => ({ m, where: "" })),
  ];
  const act = all.filter((e) => msgs.isActionable(e.m));
  const shown = mode === "all"
    ? all.slice(0, PREVIEWS)
    : act.length
    ? act.slice(0, ALL_PREVIEWS)
    : all.slice(0, 3);
  if (!all.length && mode === "all") lines.push("  (empty)");
  for (const { m, where } of shown) {
    lines.push(
      `  ${where === "urgent" ? color.red("[!]") : ""}[${MARK[msgs.categoryOf(m)]}] ${
        clip(msgs.summarize(m), 120)
      } ${color.dim(`(from ${who(m.from)}${where === "in progress" ? ", in progress" : ""})`)}`,
    );
  }
  if (total(b) > shown.length) lines.push(`  … plus ${total(b) - shown.length} more`);
  return lines;
}
