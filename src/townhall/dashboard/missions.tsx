/** @jsxImportSource hono/jsx */
/**
 * Active missions as graphs: work items as boxes, dependencies as arrows, laid out by dagre on
 * the server and drawn as SVG (no client library). Items under review get approve / reject
 * buttons when the session may write.
 */
import dagre from "@dagrejs/dagre";
import type { MissionJson } from "../../core/missions/json.ts";
import type { Can } from "./panels.tsx";

const W = 170;
const H = 44;
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

interface Laid {
  width: number;
  height: number;
  nodes: { id: string; x: number; y: number }[];
  edges: { points: { x: number; y: number }[] }[];
}

/** Positions of a mission's items (left to right along dependencies). */
export function layoutMission(m: Pick<MissionJson, "items">): Laid {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 16, ranksep: 36, marginx: 4, marginy: 4 });
  g.setDefaultEdgeLabel(() => ({}));
  const ids = new Set(m.items.map((it) => it.id));
  for (const it of m.items) g.setNode(it.id, { width: W, height: H });
  for (const it of m.items) {
    for (const d of it.depends_on) if (ids.has(d)) g.setEdge(d, it.id);
  }
  dagre.layout(g);
  const gr = g.graph();
  return {
    width: Math.ceil(gr.width ?? W),
    height: Math.ceil(gr.height ?? H),
    nodes: g.nodes().map((id) => ({ id, x: g.node(id).x, y: g.node(id).y })),
    edges: g.edges().map((e) => ({ points: g.edge(e).points ?? [] })),
  };
}

function MissionGraph(props: { m: MissionJson }) {
  const laid = layoutMission(props.m);
  const byId = new Map(props.m.items.map((it) => [it.id, it]));
  return (
    <svg
      class="graph"
      viewBox={`0 0 ${laid.width} ${laid.height}`}
      width={laid.width}
      height={laid.height}
      role="img"
      aria-label={`work items of mission ${props.m.title}`}
    >
      {laid.edges.map((e) => (
        <path
          d={e.points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(
            " ",
          )}
        />
      ))}
      {laid.nodes.map((n) => {
        const it = byId.get(n.id)!;
        const x = n.x - W / 2;
        const y = n.y - H / 2;
        return (
          <g class={`st-${it.status}`} data-item={it.id}>
            <title>{`${it.id}: ${it.title} (${it.status})`}</title>
            <rect x={x} y={y} width={W} height={H} />
            <text x={x + 6} y={y + 17}>{clip(`${it.id} · ${it.title}`, 26)}</text>
            <text x={x + 6} y={y + 34} class="muted">
              {`${it.status}${it.prs.length ? ` · ${it.prs.length} PR` : ""}${
                it.agent ? ` · ${it.agent.slice(0, 8)}` : ""
              }`}
            </text>
          </g>
        );
      })}
    </svg>
  );
}

export function MissionsPanel(props: { missions: MissionJson[]; can: Can }) {
  if (!props.missions.length) {
    return (
      <p class="muted">
        No active mission (<code>tt mission start</code>).
      </p>
    );
  }
  return (
    <>
      {props.missions.map((m) => (
        <div class="mission" data-mission={m.id}>
          <h3>
            {m.title} <span class={`state s-${m.state}`}>{m.state}</span>{" "}
            <span class="muted small">
              {m.counts.done}/{m.counts.total} done
            </span>
          </h3>
          {m.help_reason ? <p class="error">Needs help: {m.help_reason}</p> : null}
          <MissionGraph m={m} />
          <ul class="plain">
            {m.items.filter((it) => it.status === "review").map((it) => (
              <li>
                <b>{it.id}</b> {it.title} waits for review
                {it.prs.map((p) => <span key={p} class="muted small">{` ${p}`}</span>)}
                {props.can("town.write")
                  ? (
                    <>
                      <button
                        type="button"
                        data-act="approve"
                        data-body={JSON.stringify({ mission: m.id, item: it.id })}
                      >
                        approve
                      </button>
                      <form
                        class="inline"
                        data-act="reject"
                        data-fixed={JSON.stringify({ mission: m.id, item: it.id })}
                      >
                        <input name="reason" required placeholder="what to change" />
                        <button type="submit">reject</button>
                      </form>
                    </>
                  )
                  : null}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </>
  );
}
