/** Channel slots shared by two supervisors of one town on one machine (two TT_HOSTs). */
import assert from "node:assert/strict";
import { channelsDir, claimSlot, releaseSlot } from "../../src/supervisor/channel/slots.ts";

Deno.test("a slot another supervisor is setting up (locked, no socket yet) is neither taken nor removed", async () => {
  const root = await Deno.makeTempDir({ prefix: "tt-slots-" });
  try {
    const base = channelsDir(root);
    await Deno.mkdir(`${base}/0`, { recursive: true, mode: 0o700 });
    await Deno.writeTextFile(`${base}/0/mine`, "the other supervisor's");
    // The other supervisor holds slot 0's lock (a second open file: flock conflicts in-process too).
    const other = await Deno.open(`${base}/0.lock`, { create: true, write: true, mode: 0o600 });
    assert.ok(await other.tryLock(true));
    const got = await claimSlot(root);
    assert.equal(got.dir, `${base}/1`);
    assert.equal(await Deno.readTextFile(`${base}/0/mine`), "the other supervisor's");
    // A dead supervisor's slot (lock released with it) is taken over, its directory afresh.
    other.close();
    await Deno.writeTextFile(`${base}/0/stale`, "");
    const again = await claimSlot(root);
    assert.equal(again.dir, `${base}/0`);
    assert.deepEqual([...Deno.readDirSync(again.dir)], []);
    // Held slots are skipped; a released one is free again.
    assert.equal((await claimSlot(root)).dir, `${base}/2`);
    releaseSlot(got.dir);
    assert.equal((await claimSlot(root)).dir, `${base}/1`);
    for (const i of [0, 1, 2]) releaseSlot(`${base}/${i}`);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
