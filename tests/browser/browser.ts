/**
 * A real Chromium for the dashboard tests: Debian's `chromium` driven by playwright-core
 * (Playwright's own browser download cannot work on these machines). scripts/test installs the
 * package (tt_ensure_chromium); without it the browser tests skip with a message.
 */
import fs from "node:fs";
import type { Browser } from "playwright-core";

export const CHROMIUM = Deno.env.get("TT_CHROMIUM") ?? "/usr/bin/chromium";

export const chromiumMissing = (() => {
  try {
    Deno.statSync(CHROMIUM);
    return false;
  } catch {
    console.error(
      `browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set TT_CHROMIUM)`,
    );
    return true;
  }
})();

let patched = false;

/**
 * playwright-core probes WSL paths under /proc with fs.existsSync at import; Deno refuses /proc
 * reads short of --allow-all and throws where Node would answer false. Answer false instead.
 */
function patchExistsSync() {
  if (patched) return;
  patched = true;
  const orig = fs.existsSync;
  fs.existsSync = ((p: fs.PathLike) => {
    try {
      return orig(p);
    } catch {
      return false;
    }
  }) as typeof fs.existsSync;
}

export async function launch(): Promise<Browser> {
  patchExistsSync();
  const { chromium } = await import("playwright-core");
  return await chromium.launch({
    executablePath: CHROMIUM,
    // Tests run as root in a container: Chromium's own sandbox needs user namespaces.
    args: ["--no-sandbox", "--disable-dev-shm-usage"],
  });
}
