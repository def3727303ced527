/**
 * The Node-side peers in bench/node/ (BullMQ, autocannon): Deno cannot install bullmq here, so
 * they run under Node from their own package.json, installed with `npm ci` on first use.
 */

const dec = new TextDecoder();

async function which(name: string): Promise<string | null> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if ((await Deno.stat(`${dir}/${name}`)).isFile) return `${dir}/${name}`;
    } catch { /* not here */ }
  }
  return null;
}

let ready: Promise<string> | undefined;

/**
 * Node's path, once bench/node/node_modules holds exactly what package-lock.json pins (else
 * `npm ci` first). Rejects with a one-line reason when node or npm is missing or npm fails.
 */
export function nodePeers(root: string): Promise<string> {
  ready ??= (async () => {
    const node = await which("node");
    if (!node) throw new Error("node is not installed (apt-get install nodejs npm)");
    const dir = `${root}/bench/node`;
    const pinned = JSON.parse(await Deno.readTextFile(`${dir}/package.json`))
      .dependencies as Record<
        string,
        string
      >;
    const installed = async (name: string) => {
      try {
        const pkg = `${dir}/node_modules/${name}/package.json`;
        return JSON.parse(await Deno.readTextFile(pkg)).version as string;
      } catch {
        return undefined;
      }
    };
    const stale = [];
    for (const [name, version] of Object.entries(pinned)) {
      if (await installed(name) !== version) stale.push(name);
    }
    if (stale.length) {
      const npm = await which("npm");
      if (!npm) throw new Error("npm is missing, so bench/node cannot be installed");
      console.log(`  (installing bench/node with npm ci: ${stale.join(", ")})`);
      const out = await new Deno.Command(npm, {
        args: ["ci", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      if (!out.success) {
        throw new Error(
          `npm ci in bench/node failed: ${dec.decode(out.stderr).trim().slice(0, 300)}`,
        );
      }
    }
    return node;
  })();
  return ready;
}

/** Runs `node bench/node/<script> args…` and parses the one JSON line it prints. */
export async function runNode<T>(root: string, script: string, args: string[]): Promise<T> {
  const node = await nodePeers(root);
  const out = await new Deno.Command(node, {
    args: [`${root}/bench/node/${script}`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `node ${script} exited ${out.code}: ${dec.decode(out.stderr).trim().slice(-500)}`,
    );
  }
  return JSON.parse(dec.decode(out.stdout).trim().split("\n").pop()!) as T;
}
