/**
 * Where round channels listen: a fixed set of socket paths per town ("slots",
 * `.tt/channels/<n>/tt.sock`), because Deno grants a unix socket only by its exact path and the
 * narrowed supervisor (permissions.ts) must be granted each one before it starts. A round claims a
 * free slot by creating its directory (mode 700); a slot left by a killed supervisor (a directory
 * whose socket nobody answers on) is taken over.
 */

/** Rounds one supervisor can serve at once (an agent runs one round at a time). */
export const CHANNEL_SLOTS = 256;
/** Longest socket path the kernel takes is 107 bytes; a deep town uses the temp dir instead. */
const MAX_SOCKET_PATH = 100;

/** The directory holding a town's slot directories. */
export function channelsDir(townRoot: string): string {
  const inTown = `${townRoot}/.tt/channels`;
  if (`${inTown}/${CHANNEL_SLOTS - 1}/tt.sock`.length <= MAX_SOCKET_PATH) return inTown;
  const tmp = (Deno.env.get("TMPDIR") || "/tmp").replace(/(.)\/$/, "$1");
  return `${tmp}/tt-ch-${hash(townRoot)}`;
}

/** Every socket path a town's rounds may listen on (for --allow-net=unix:…). */
export function channelSocketPaths(townRoot: string): string[] {
  const base = channelsDir(townRoot);
  return Array.from({ length: CHANNEL_SLOTS }, (_, i) => `${base}/${i}/tt.sock`);
}

/** Slots this process holds now. */
const held = new Set<string>();

/** Claims a free slot: its directory, created mode 700, and its socket path. */
export async function claimSlot(townRoot: string): Promise<{ dir: string; path: string }> {
  const base = channelsDir(townRoot);
  await Deno.mkdir(base, { recursive: true, mode: 0o700 });
  await Deno.chmod(base, 0o700);
  for (let i = 0; i < CHANNEL_SLOTS; i++) {
    const dir = `${base}/${i}`;
    if (held.has(dir)) continue;
    held.add(dir);
    try {
      await Deno.mkdir(dir, { mode: 0o700 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists) || await answers(`${dir}/tt.sock`)) {
        held.delete(dir);
        continue;
      }
      // A dead round's slot: start it afresh.
      await Deno.remove(dir, { recursive: true });
      await Deno.mkdir(dir, { mode: 0o700 });
    }
    await Deno.chmod(dir, 0o700); // mkdir's mode is masked by the umask
    return { dir, path: `${dir}/tt.sock` };
  }
  throw new Error(`all ${CHANNEL_SLOTS} channel slots of ${base} are in use`);
}

/** Gives a slot back (its directory is removed by the caller). */
export function releaseSlot(dir: string): void {
  held.delete(dir);
}

/** Does a process listen on this socket? */
async function answers(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

function hash(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, "0");
}
