/**
 * The agent channel's wire format: one JSON line from the agent's `tt` (src/agent/client.ts),
 * one JSON line back, then the connection closes. Requests are parsed with zod; replies are
 * built here and read by the (import-free) client by hand.
 */
import { z } from "zod";

/** Largest request accepted (task texts are up to 64 KiB; argv has room for a few). */
export const MAX_REQUEST_BYTES = 1024 * 1024;

export const ChannelRequest = z.object({
  v: z.literal(1),
  token: z.string().max(256),
  argv: z.array(z.string()).max(256),
  /** The agent's working directory (informational: commands act on the town, not on files). */
  cwd: z.string().max(4096),
}).strict();
export type ChannelRequest = z.infer<typeof ChannelRequest>;

export interface ChannelReply {
  code: number;
  stdout: string;
  stderr: string;
}

export const refusedReply = (reason: string): ChannelReply => ({
  code: 1,
  stdout: "",
  stderr: `tt: refused: ${reason}\n`,
});
