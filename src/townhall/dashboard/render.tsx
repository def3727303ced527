/** @jsxImportSource hono/jsx */
/** Whole documents and list fragments as strings (JSX escapes every value). */
import { agentLabel, type Ctx, listAgents } from "../../core/agents.ts";
import type { TaskPage } from "./data.ts";
import { LoginPage } from "./layout.tsx";
import { DashboardPage, type PageData, taskRowsHtml } from "./page.tsx";

const DOCTYPE = "<!DOCTYPE html>";

export function dashboardHtml(d: PageData): string {
  return DOCTYPE + String(<DashboardPage d={d} />);
}

export function loginHtml(town: string, error?: string): string {
  return DOCTYPE + String(<LoginPage town={town} error={error} />);
}

/** One task page as list items, assignees by label (one pipelined read of the agents). */
export async function tasksHtml(t: Ctx, page: TaskPage): Promise<string> {
  const labels = new Map((await listAgents(t)).map((a) => [a.id, agentLabel(a)]));
  return taskRowsHtml(page, labels, Date.now());
}
