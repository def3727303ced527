/** @jsxImportSource hono/jsx */
/**
 * The page frame and the login page. Every value goes through JSX, which escapes it; nothing here
 * uses raw HTML. Styles and script come from /assets (the Content-Security-Policy allows nothing
 * inline).
 */
import type { Child } from "hono/jsx";
import { ASSET_VERSION } from "./assets.ts";

export function Layout(props: { title: string; csrf?: string; children: Child }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.csrf ? <meta name="tt-csrf" content={props.csrf} /> : null}
        <title>{props.title}</title>
        <link rel="stylesheet" href={`/assets/tt.css?v=${ASSET_VERSION}`} />
        <script src={`/assets/tt.js?v=${ASSET_VERSION}`} defer></script>
      </head>
      <body>{props.children}</body>
    </html>
  );
}

export function LoginPage(props: { town: string; error?: string }) {
  return (
    <Layout title={`tt · ${props.town} · log in`}>
      <main class="login">
        <h1>tt dashboard</h1>
        <p>
          Town <b>{props.town}</b>. Log in with an API key (<code>tt auth gen-key</code>), or run
          {" "}
          <code>tt dashboard</code> on the town's machine for a one-time link.
        </p>
        {props.error ? <p class="error" id="login-error">{props.error}</p> : null}
        <form method="post" action="/login" id="login">
          <label>
            API key
            <input
              type="password"
              name="key"
              autocomplete="current-password"
              required
              placeholder="tt_…"
            />
          </label>
          <button type="submit">Log in</button>
        </form>
      </main>
    </Layout>
  );
}
