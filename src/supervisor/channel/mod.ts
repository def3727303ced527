/**
 * The agent channel: for each running round the supervisor listens on a private unix socket in a
 * fresh directory (mode 700, `.tt/channels/<slot>/`, slots.ts), and the round's CLI gets only
 * `TT_CHANNEL=<socket>`, `TT_CHANNEL_TOKEN=<per-round secret>` and a `tt` shim that talks to it.
 * No Redis URL, password or socket reaches the agent. A request without the round's token is
 * refused (never run as a human); the channel closes, socket and directory removed, when the
 * round ends. The directory is what a sandbox binds into the agent's view.
 */
import type { TownContext } from "../../core/town.ts";
import { writeAgentShim } from "../self.ts";
import { type Caller, refuse, runForAgent } from "./run.ts";
import { type ChannelReply, ChannelRequest, refusedReply } from "./protocol.ts";
import { randomHex, sameSecret, serveLines } from "./server.ts";
import { claimSlot, releaseSlot } from "./slots.ts";

export interface RoundChannel {
  /** Variables for the round's environment. */
  env: { TT_CHANNEL: string; TT_CHANNEL_TOKEN: string };
  /** Directory holding the round's `tt` shim, for the front of its PATH. */
  binDir: string;
  /** The channel's directory (socket and shim), for a sandbox to bind. */
  dir: string;
  /** Stops listening, lets running requests finish (a few seconds at most), removes the dir. */
  close(): Promise<void>;
}

/** Requests of one round served at once; more are refused (the supervisor serves every agent). */
const MAX_IN_FLIGHT = 8;

/** Opens the channel of `agent`'s round `_round` (the slot, not the round, names its directory). */
export async function openRoundChannel(
  town: TownContext,
  agent: Caller,
  _round: number,
): Promise<RoundChannel> {
  // A fixed slot path, not one named after the round: the narrowed supervisor is granted each
  // socket path in advance (slots.ts).
  const { dir, path } = await claimSlot(town.root);
  const token = randomHex(32);
  const binDir = `${dir}/bin`;
  await writeAgentShim(binDir, path);
  const listener = Deno.listen({ transport: "unix", path });
  await Deno.chmod(path, 0o600);
  const server = serveLines(
    listener,
    MAX_IN_FLIGHT,
    (raw) => answer(town, agent, token, raw),
    refusedReply("too many requests at once"),
  );
  let closed: Promise<void> | undefined;
  return {
    env: { TT_CHANNEL: path, TT_CHANNEL_TOKEN: token },
    binDir,
    dir,
    close: () =>
      closed ??= (async () => {
        // A request still running finishes first (a report sent as the CLI exited counts).
        await server.close();
        await Deno.remove(dir, { recursive: true }).catch(() => {});
        releaseSlot(dir);
      })(),
  };
}

async function answer(
  town: TownContext,
  agent: Caller,
  token: string,
  raw: string | undefined,
): Promise<ChannelReply> {
  if (raw === undefined) return refusedReply("request too large or incomplete");
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch {
    return refusedReply("unreadable request (expected one JSON line)");
  }
  const req = ChannelRequest.safeParse(data);
  if (!req.success) return refusedReply("malformed request");
  if (!sameSecret(req.data.token, token)) {
    await refuse(town, agent.id, ["(channel request)"], "wrong channel token");
    return refusedReply("wrong channel token");
  }
  return await runForAgent(town, agent, req.data.argv);
}
