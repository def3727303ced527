/**
 * Config files are validated once: config.ts keeps the validated form next to the file
 * (`.tt/config-cache.json`, `~/.tt/config-cache.json`) and uses it only while the file's text and
 * the code that validated it are the same. The attacker's side: an entry made from other text, by
 * another version, or damaged is never used, and a file that fails validation is never cached.
 */
import assert from "node:assert/strict";
import { loadGlobalConfig, loadTownConfig } from "../../src/core/config.ts";
import { TownConfig } from "../../src/core/config_schema.ts";
import { ROOT } from "../helpers.ts";

const TOML = `name = "cachetown"\n[agent]\nmax_rounds = 7\n`;

async function town(text = TOML, runtime = true): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "tt-cfgcache-" });
  await Deno.writeTextFile(`${root}/tinytown.toml`, text);
  if (runtime) await Deno.mkdir(`${root}/.tt`, { mode: 0o700 });
  return root;
}

const cacheOf = (root: string) => `${root}/.tt/config-cache.json`;
/** The cache file's newest entry (the one this tt wrote last). */
const readEntry = async (path: string) => JSON.parse(await Deno.readTextFile(path)).entries[0];
const writeEntries = (path: string, ...entries: unknown[]) =>
  Deno.writeTextFile(path, JSON.stringify({ entries }));

Deno.test("tinytown.toml: validated once, the same value from the cache after", async () => {
  const root = await town();
  try {
    const first = await loadTownConfig(root);
    assert.deepEqual(first, TownConfig.parse({ name: "cachetown", agent: { max_rounds: 7 } }));
    const entry = await readEntry(cacheOf(root));
    assert.equal(entry.text, TOML);
    assert.equal((await Deno.stat(cacheOf(root))).mode! & 0o777, 0o600);
    // The second load reads the entry: a value planted in it (same text, same stamp) comes out.
    entry.value.agent.max_rounds = 99;
    await writeEntries(cacheOf(root), entry);
    assert.equal((await loadTownConfig(root)).agent.max_rounds, 99);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tinytown.toml: an edit, another stamp or a damaged entry is validated again", async () => {
  const root = await town();
  try {
    await loadTownConfig(root);
    const entry = await readEntry(cacheOf(root));
    const planted = (patch: Record<string, unknown>) =>
      writeEntries(cacheOf(root), {
        ...entry,
        ...patch,
        value: { ...entry.value, name: "forged" },
      });
    await planted({ stamp: "0.0.1:1:2:3" });
    assert.equal((await loadTownConfig(root)).name, "cachetown", "another tt's entry");
    await planted({ text: TOML + "# edited\n" });
    assert.equal((await loadTownConfig(root)).name, "cachetown", "an entry of other text");
    const junks = ["", "{", "null", "[]", '{"entries":{}}', '{"entries":[1,null,{"stamp":1}]}'];
    for (const junk of junks) {
      await Deno.writeTextFile(cacheOf(root), junk);
      assert.equal((await loadTownConfig(root)).name, "cachetown", `entry ${junk}`);
    }
    // Each miss wrote the validated value back.
    assert.equal((await readEntry(cacheOf(root))).value.name, "cachetown");
    // An edit of the file itself takes effect at once.
    await Deno.writeTextFile(`${root}/tinytown.toml`, TOML.replace("7", "8"));
    assert.equal((await loadTownConfig(root)).agent.max_rounds, 8);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tinytown.toml: each tt build keeps its own entry (source and bundle do not evict each other)", async () => {
  const root = await town();
  try {
    await loadTownConfig(root);
    const mine = await readEntry(cacheOf(root));
    const other = (i: number) => ({
      ...mine,
      stamp: `9.9.${i}`,
      value: { ...mine.value, name: `v${i}` },
    });
    // Another build's entry is kept when this one writes; this one's is found behind it.
    await writeEntries(cacheOf(root), other(1));
    await loadTownConfig(root);
    let entries = JSON.parse(await Deno.readTextFile(cacheOf(root))).entries;
    assert.deepEqual(entries.map((e: { stamp: string }) => e.stamp), [mine.stamp, "9.9.1"]);
    await writeEntries(cacheOf(root), other(1), {
      ...mine,
      value: { ...mine.value, name: "mine" },
    });
    assert.equal((await loadTownConfig(root)).name, "mine", "found behind another build's entry");
    // At most 4 builds are kept, the newest first.
    await writeEntries(cacheOf(root), other(1), other(2), other(3), other(4), other(5));
    await loadTownConfig(root);
    entries = JSON.parse(await Deno.readTextFile(cacheOf(root))).entries;
    assert.deepEqual(entries.map((e: { stamp: string }) => e.stamp), [
      mine.stamp,
      "9.9.1",
      "9.9.2",
      "9.9.3",
    ]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tinytown.toml: a file that fails validation fails every time and is never cached", async () => {
  const root = await town(`name = "cachetown"\n[agent]\nmax_rounds = "many"\n`);
  try {
    for (let i = 0; i < 2; i++) {
      await assert.rejects(loadTownConfig(root), /tinytown\.toml: agent\.max_rounds: /);
    }
    await assert.rejects(Deno.stat(cacheOf(root)), Deno.errors.NotFound);
    await Deno.writeTextFile(`${root}/tinytown.toml`, `name = "bad name!"\n`);
    await assert.rejects(loadTownConfig(root), /not a valid town name/);
    await assert.rejects(Deno.stat(cacheOf(root)), Deno.errors.NotFound);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tinytown.toml: without .tt/, it is made owner-only for the cache; read-only, uncached", async () => {
  const root = await town(TOML, false);
  try {
    assert.equal((await loadTownConfig(root)).agent.max_rounds, 7);
    assert.equal((await Deno.stat(`${root}/.tt`)).mode! & 0o777, 0o700);
    assert.equal((await readEntry(cacheOf(root))).text, TOML);
    await Deno.remove(`${root}/.tt`, { recursive: true });
    await Deno.chmod(root, 0o500);
    if (Deno.uid() !== 0) {
      // root writes anyway; anyone else cannot, and still gets the config.
      assert.equal((await loadTownConfig(root)).agent.max_rounds, 7);
      await assert.rejects(Deno.stat(`${root}/.tt`), Deno.errors.NotFound);
    }
  } finally {
    await Deno.chmod(root, 0o700);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tinytown.toml: the password warning is given by every process, cached or not", async () => {
  const root = await town(`name = "cachetown"\n[redis]\nurl = "redis://u:secret@h:6379"\n`);
  const load = `import { loadTownConfig } from "${ROOT}/src/core/config.ts";\n` +
    `await loadTownConfig(${JSON.stringify(root)});`;
  try {
    for (let i = 0; i < 2; i++) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "-q", "--config", `${ROOT}/deno.json`, load],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(out.success, new TextDecoder().decode(out.stderr));
      assert.match(new TextDecoder().decode(out.stderr), /holds a Redis password/, `load ${i + 1}`);
      await Deno.stat(cacheOf(root)); // the second process read the cache
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("~/.tt/config.toml: cached owner-only (it may hold a password), edits seen at once", async () => {
  const home = await Deno.makeTempDir({ prefix: "tt-cfgcache-home-" });
  const saved = Deno.env.get("TT_HOME");
  Deno.env.set("TT_HOME", home);
  try {
    await Deno.writeTextFile(`${home}/config.toml`, `redis_url = "redis://u:pw@h:1"\n`);
    assert.equal((await loadGlobalConfig()).redis_url, "redis://u:pw@h:1");
    assert.equal((await Deno.stat(`${home}/config-cache.json`)).mode! & 0o777, 0o600);
    await Deno.writeTextFile(`${home}/config.toml`, `default_cli = "codex"\n`);
    const cfg = await loadGlobalConfig();
    assert.equal(cfg.redis_url, undefined);
    assert.equal(cfg.default_cli, "codex");
    await Deno.writeTextFile(`${home}/config.toml`, `nonsense = 1\n`);
    await assert.rejects(loadGlobalConfig(), /config\.toml: /);
  } finally {
    if (saved === undefined) Deno.env.delete("TT_HOME");
    else Deno.env.set("TT_HOME", saved);
    await Deno.remove(home, { recursive: true });
  }
});
