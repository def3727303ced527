/** The dashboard's static files, held in memory (they travel inside the bundle as strings). */
import { createHash } from "node:crypto";
import { CLIENT_JS, CSS } from "./client.ts";

export const ASSETS: Record<string, { body: string; type: string }> = {
  "/assets/tt.js": { body: CLIENT_JS, type: "text/javascript; charset=utf-8" },
  "/assets/tt.css": { body: CSS, type: "text/css; charset=utf-8" },
};

/** Changes with their content, so a new tt never runs against a cached old script. */
export const ASSET_VERSION = createHash("sha256").update(CLIENT_JS).update(CSS).digest("hex")
  .slice(0, 12);
