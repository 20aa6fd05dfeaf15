/**
 * DOT and Mermaid renderings of a snapshot. Edges that carried personal
 * data are drawn red and bold, with the types in their label: the privacy
 * data-flow map at a glance.
 */
import { cutWithHash } from './identifiers.js';
import type { GraphEdge, GraphNode, GraphSnapshot } from './snapshot.js';

export function formatDuration(ns: number | null): string {
  if (ns === null) return '-';
  if (ns < 1_000) return `${ns}ns`;
  if (ns < 1_000_000) return `${(ns / 1_000).toFixed(1)}µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(1)}ms`;
  return `${(ns / 1_000_000_000).toFixed(2)}s`;
}

function nodeLines(n: GraphNode): string[] {
  const lines = [n.label];
  for (const a of n.addresses) if (a !== n.label) lines.push(a);
  if (n.ports.length) lines.push(`ports ${n.ports.join(',')}`);
  if (n.processes.length) lines.push(n.processes.join(','));
  return lines;
}

function edgeLines(e: GraphEdge): string[] {
  const lines = [`${e.protocol} ${e.requests} req`];
  if (e.errors) lines[0] += `, ${e.errors} err`;
  if (e.latency_ns.p95 !== null) lines.push(`p50 ${formatDuration(e.latency_ns.p50)} p95 ${formatDuration(e.latency_ns.p95)}`);
  if (e.pii_types.length) lines.push(`PII: ${e.pii_types.join(', ')}`);
  return lines;
}

/**
 * Control characters of a name or address from the input (an event from
 * elsewhere may hold any) as their visible Control Pictures (NUL as ␀, ESC
 * as ␛, DEL as ␡): Graphviz refuses a NUL in a string, and neither format
 * has an escape for them. Line breaks were spaces before and stay so.
 */
function visibleControls(s: string): string {
  return s.replace(/[\r\n]/g, ' ').replace(/[\u0000-\u001f\u007f]/g, (c) => String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}

/** Longest text of a DOT string kept whole: escaped, it stays under Graphviz's 16384 characters per string. */
export const MAX_DOT_TEXT = 4096;

/**
 * DOT double-quoted string: control characters made visible, lines joined with \n, backslash and quote
 * escaped; a longer text (a label of many names) cut to its start and a hash of the whole, so a node's
 * name stays its own and the same in every line that names it.
 */
function dotString(lines: string[]): string {
  return '"' + cutWithHash(lines.map(visibleControls).join('\n'), MAX_DOT_TEXT).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n') + '"';
}

export function renderDot(g: GraphSnapshot): string {
  const out = ['digraph pano {', '  rankdir=LR;', '  node [shape=box, style=rounded, fontname="Helvetica"];', '  edge [fontname="Helvetica", fontsize=10];'];
  for (const n of g.nodes) out.push(`  ${dotString([n.id])} [label=${dotString(nodeLines(n))}];`);
  for (const e of g.edges) {
    const attrs = [`label=${dotString(edgeLines(e))}`];
    if (e.pii_types.length) attrs.push('color="red"', 'fontcolor="red"', 'penwidth=2');
    else if (e.errors) attrs.push('color="darkorange"');
    out.push(`  ${dotString([e.source])} -> ${dotString([e.target])} [${attrs.join(', ')}];`);
  }
  out.push('}');
  return out.join('\n') + '\n';
}

/** Mermaid labels: quotes and markup-ish characters as entity codes. */
function mermaidText(lines: string[]): string {
  const esc = (s: string) => visibleControls(s).replace(/[#"<>&|`]/g, (c) => `#${c.charCodeAt(0)};`);
  return '"' + lines.map(esc).join('<br/>') + '"';
}

export function renderMermaid(g: GraphSnapshot): string {
  const out = ['flowchart LR'];
  const ids = new Map<string, string>();
  g.nodes.forEach((n, i) => {
    ids.set(n.id, `n${i}`);
    out.push(`  n${i}[${mermaidText(nodeLines(n))}]`);
  });
  const piiLinks: number[] = [];
  g.edges.forEach((e, i) => {
    out.push(`  ${ids.get(e.source)} -->|${mermaidText(edgeLines(e))}| ${ids.get(e.target)}`);
    if (e.pii_types.length) piiLinks.push(i);
  });
  if (piiLinks.length) out.push(`  linkStyle ${piiLinks.join(',')} stroke:#d00,stroke-width:3px,color:#d00`);
  return out.join('\n') + '\n';
}
