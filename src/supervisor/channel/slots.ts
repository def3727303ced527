/**
 * Where round channels listen: a fixed set of socket paths per town ("slots",
 * `.tt/channels/<n>/tt.sock`), because Deno grants a unix socket only by its exact path and the
 * narrowed supervisor (permissions.ts) must be granted each one before it starts. A round claims a
 * free slot by taking the lock of `<n>.lock` and creating its directory (mode 700); a slot left by
 * a killed supervisor (its lock released with the process) is taken over.
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

/** Slots this process holds now, with the lock file that makes each one its own. */
const held = new Map<string, Deno.FsFile>();

/**
 * Claims a free slot: its directory, created mode 700, and its socket path. A slot is owned by
 * whoever holds the exclusive lock on `<n>.lock` next to it (released by the kernel when a
 * supervisor dies), so two supervisors of one town on one machine (two TT_HOSTs) never take the
 * same slot, and a dead round's directory is cleared only by the slot's new owner. (Taking over
 * a directory whose socket did not answer yet removed another supervisor's slot while it was
 * being set up: its round failed with NotFound.)
 */
export async function claimSlot(townRoot: string): Promise<{ dir: string; path: string }> {
  const base = channelsDir(townRoot);
  await Deno.mkdir(base, { recursive: true, mode: 0o700 });
  await Deno.chmod(base, 0o700);
  for (let i = 0; i < CHANNEL_SLOTS; i++) {
    const dir = `${base}/${i}`;
    if (held.has(dir)) continue;
    const lock = await Deno.open(`${dir}.lock`, { create: true, write: true, mode: 0o600 });
    if (!(await lock.tryLock(true))) {
      lock.close();
      continue;
    }
    held.set(dir, lock);
    // Served without its lock (a supervisor of an older tt, during an upgrade): still live.
    if (await answers(`${dir}/tt.sock`)) {
      releaseSlot(dir);
      continue;
    }
    try {
      // Left by a dead round, or never: start it afresh.
      await Deno.remove(dir, { recursive: true }).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
      await Deno.mkdir(dir, { mode: 0o700 });
      await Deno.chmod(dir, 0o700); // mkdir's mode is masked by the umask
    } catch (e) {
      releaseSlot(dir);
      throw e;
    }
    return { dir, path: `${dir}/tt.sock` };
  }
  throw new Error(`all ${CHANNEL_SLOTS} channel slots of ${base} are in use`);
}

/** Gives a slot back (its directory is removed by the caller). */
export function releaseSlot(dir: string): void {
  const lock = held.get(dir);
  held.delete(dir);
  lock?.close(); // closing the file releases its lock
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
