/**
 * `tt service` on macOS: the LaunchAgent plist (checked on Linux, where there is no plutil, by a
 * strict XML parser and a reading of its plist dict), where it goes, and exactly which launchctl
 * commands install, reinstall and uninstall run, through a host whose os is darwin and whose
 * launchctl records its calls (there is no launchctl here). Also what `tt service install
 * --no-enable` prints on Linux: the commands that would load it.
 */
import assert from "node:assert/strict";
import { XMLParser, XMLValidator } from "fast-xml-parser";
import { AgentTown } from "../agent_helpers.ts";
import {
  installService,
  type ServiceHost,
  serviceStatus,
  uninstallService,
} from "../../src/supervisor/service.ts";
import { launchdLabel, plistText } from "../../src/supervisor/service_launchd.ts";

type Node = Record<string, unknown>;
type Plist = string | number | boolean | Plist[] | { [k: string]: Plist };

/** The element name of a preserveOrder node. */
const tag = (n: Node) => Object.keys(n).find((k) => k !== ":@")!;
const kids = (n: Node) =>
  (n[tag(n)] as Node[]).filter((c) => tag(c) !== "#text" || String(c["#text"]).trim());
const text = (n: Node) => (n[tag(n)] as Node[]).map((c) => String(c["#text"] ?? "")).join("");

/** A plist value from its XML node (the subset tt writes). */
function value(n: Node): Plist {
  switch (tag(n)) {
    case "string":
      return text(n);
    case "integer":
      return Number(text(n));
    case "true":
      return true;
    case "false":
      return false;
    case "array":
      return kids(n).map(value);
    case "dict": {
      const out: Record<string, Plist> = {};
      const c = kids(n);
      for (let i = 0; i < c.length; i += 2) {
        assert.equal(tag(c[i]), "key", "a dict alternates key and value");
        const k = text(c[i]);
        assert.ok(!(k in out), `key ${k} twice`);
        out[k] = value(c[i + 1]);
      }
      return out;
    }
    default:
      throw new Error(`unexpected plist element <${tag(n)}>`);
  }
}

function readPlist(xml: string): Record<string, Plist> {
  const valid = XMLValidator.validate(xml);
  assert.equal(valid, true, JSON.stringify(valid));
  const doc = new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    parseTagValue: false,
    trimValues: false,
    processEntities: true,
  }).parse(xml) as Node[];
  const plist = doc.find((n) => tag(n) === "plist")!;
  assert.equal((plist[":@"] as Record<string, string>)["@_version"], "1.0");
  const [dict] = kids(plist);
  return value(dict) as Record<string, Plist>;
}

Deno.test("the LaunchAgent plist is valid XML with the keys launchd needs", () => {
  const program = ["/usr/local/bin/deno", "run", "-P", "/opt/tt/main.ts", "--town", "/srv/t"];
  const xml = plistText({
    label: launchdLabel("my town"),
    program,
    root: "/srv/t",
    env: { PATH: "/opt/homebrew/bin:/usr/bin", REDIS_URL: "redis://u:p%40@h/0?a=1&b=2" },
  });
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<!DOCTYPE plist PUBLIC/);
  assert.deepEqual(readPlist(xml), {
    Label: "dev.tinytown.tt.my_town",
    ProgramArguments: program,
    WorkingDirectory: "/srv/t",
    EnvironmentVariables: {
      PATH: "/opt/homebrew/bin:/usr/bin",
      REDIS_URL: "redis://u:p%40@h/0?a=1&b=2",
    },
    RunAtLoad: true,
    KeepAlive: { SuccessfulExit: false },
    ThrottleInterval: 2,
    ProcessType: "Background",
    StandardOutPath: "/srv/t/.tt/logs/service.log",
    StandardErrorPath: "/srv/t/.tt/logs/service.log",
  });
});

Deno.test("a hostile town root or environment cannot add plist keys or break the XML", () => {
  const root = `/x</string><key>Program</key><string>/bin/evil</string>&amp;]]><!--\u0001\u001b'"`;
  const xml = plistText({
    label: launchdLabel("../../e v</il>"),
    program: ["/bin/tt", "--town", root, "supervise"],
    root,
    env: { "A<B": "1&2", PATH: "/bin\u0000x", LONE: "a\ud800b", PAIR: "\u{1f600}" },
  });
  const p = readPlist(xml);
  assert.equal(p.Program, undefined);
  // Only the characters XML cannot hold are changed (to spaces); the rest round-trips exactly.
  const expected = root.replace("\u0001", " ").replace("\u001b", " ");
  assert.equal(p.WorkingDirectory, expected);
  assert.deepEqual(p.ProgramArguments, ["/bin/tt", "--town", expected, "supervise"]);
  assert.deepEqual(p.EnvironmentVariables, {
    "A<B": "1&2",
    PATH: "/bin x",
    LONE: "a b",
    PAIR: "\u{1f600}",
  });
  assert.match(String(p.Label), /^dev\.tinytown\.tt\.[A-Za-z0-9_.-]+$/);
  assert.doesNotMatch(String(p.Label), /\//);
});

/** A macOS-like host in a temp HOME whose launchctl records its calls and answers `fail`. */
function macHost(home: string, fail: (argv: string[]) => string | undefined = () => undefined) {
  const calls: string[][] = [];
  const env: Record<string, string> = { HOME: home, PATH: "/opt/homebrew/bin:/usr/bin:/bin" };
  const host: ServiceHost = {
    os: "darwin",
    env: (n) => env[n],
    uid: () => 501,
    run: (argv) => {
      calls.push(argv);
      const why = fail(argv);
      return Promise.resolve(why ? { ok: false, detail: why } : { ok: true, detail: "" });
    },
  };
  return { host, calls };
}

Deno.test("on macOS install writes the LaunchAgent and bootstraps it; reinstall boots out first; uninstall boots out and removes it", async () => {
  const home = await Deno.makeTempDir({ prefix: "tt-mac-home-" });
  const root = await Deno.makeTempDir({ prefix: "tt-mac-town-" });
  const town = { name: "shop", root };
  try {
    const { host, calls } = macHost(home);
    const path = `${home}/Library/LaunchAgents/dev.tinytown.tt.shop.plist`;
    assert.deepEqual(await serviceStatus(town, host), {
      installed: false,
      unit: "dev.tinytown.tt.shop",
      path,
      manager: "launchd",
    });
    const r = await installService(town, true, host);
    assert.equal(r.path, path);
    assert.equal(r.enabled, true);
    assert.deepEqual(calls, [["launchctl", "bootstrap", "gui/501", path]]);
    assert.deepEqual(r.commands, [`launchctl bootstrap gui/501 ${path}`]);
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    const p = readPlist(await Deno.readTextFile(path));
    assert.equal(p.Label, "dev.tinytown.tt.shop");
    assert.deepEqual((p.ProgramArguments as string[]).slice(-3), ["--town", root, "supervise"]);
    assert.equal((p.EnvironmentVariables as Record<string, string>).PATH, host.env("PATH"));
    assert.equal((await serviceStatus(town, host)).installed, true);

    calls.length = 0;
    await installService(town, true, host);
    assert.deepEqual(calls, [
      ["launchctl", "bootout", "gui/501/dev.tinytown.tt.shop"],
      ["launchctl", "bootstrap", "gui/501", path],
    ]);

    calls.length = 0;
    const u = await uninstallService(town, host);
    assert.deepEqual(calls, [["launchctl", "bootout", "gui/501/dev.tinytown.tt.shop"]]);
    assert.deepEqual(u.commands, ["launchctl bootout gui/501/dev.tinytown.tt.shop"]);
    await assert.rejects(Deno.stat(path));
    await assert.rejects(uninstallService(town, host), /no service installed for town shop/);
  } finally {
    await Deno.remove(home, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("on macOS --no-enable only writes the plist and names the command; a failing launchctl says what to run", async () => {
  const home = await Deno.makeTempDir({ prefix: "tt-mac home-" });
  const root = await Deno.makeTempDir({ prefix: "tt-mac-town-" });
  const town = { name: "shop", root };
  try {
    const { host, calls } = macHost(home, () => "Bootstrap failed: 5: Input/output error");
    const path = `${home}/Library/LaunchAgents/dev.tinytown.tt.shop.plist`;
    const r = await installService(town, false, host);
    assert.equal(r.enabled, false);
    assert.deepEqual(calls, [], "nothing run");
    // The temp HOME has a space: the command line quotes it, ready to paste.
    assert.deepEqual(r.commands, [`launchctl bootstrap gui/501 '${path}'`]);
    await Deno.stat(path);
    await Deno.remove(path);
    await assert.rejects(
      installService(town, true, host),
      (e: Error) => {
        assert.equal(
          e.message,
          `wrote ${path}, but 'launchctl bootstrap gui/501 '${path}'' failed (Bootstrap failed: 5: Input/output error): run it by hand where you are logged in to the Mac's desktop`,
        );
        return true;
      },
    );
    await Deno.stat(path); // written before the load failed
  } finally {
    await Deno.remove(home, { recursive: true });
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("tt service install --no-enable prints the systemctl commands that would load the unit", async () => {
  const at = await AgentTown.create();
  const xdg = await Deno.makeTempDir();
  try {
    const env = { XDG_CONFIG_HOME: xdg };
    const r = await at.sb.ok(["service", "install", "--no-enable"], { env });
    const unit = `tt-${at.name}.service`;
    assert.equal(
      r.stdout.trim(),
      [
        `Wrote ${xdg}/systemd/user/${unit}; to load and start it, run:`,
        `  systemctl --user daemon-reload`,
        `  systemctl --user enable --now ${unit}`,
      ].join("\n"),
    );
    const u = await at.sb.ok(["service", "uninstall"], { env });
    assert.match(u.stdout, new RegExp(`^  systemctl --user disable --now ${unit}$`, "m"));
  } finally {
    await at.cleanup();
    await Deno.remove(xdg, { recursive: true });
  }
});
