// Renderings of a graph built from real captures: the HTML page opened in
// Debian's Chromium (playwright-core), drawn, a node and an edge clicked, a
// screenshot taken, the page's figures checked against the JSON graph;
// DOT rendered by Graphviz's `dot`; Mermaid checked line by line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inflateSync } from 'node:zlib';
import type { GraphSnapshot } from '@panopticon/graph';
import { CORPUS, pipeline } from './pipeline.js';

const CHROMIUM = '/usr/bin/chromium';
const CAPTURES = [join(CORPUS, 'http1/wiregasm-http.cap'), join(CORPUS, 'http1/chrissanders-http_post.pcapng'), join(CORPUS, 'postgresql/zeek-psql-insert-fail-drop-fail.pcap')];
const noCorpus = !existsSync(CAPTURES[0]!) && 'corpus not found at ../shared/corpus';

/** Decodes an 8-bit RGB/RGBA PNG (what Chromium writes) into its distinct colours, to tell a drawn graph from a blank canvas. */
function pngColours(png: Buffer): { width: number; height: number; colours: number } {
  assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'PNG signature');
  let off = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Buffer[] = [];
  while (off < png.length) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth');
      channels = data[9] === 6 ? 4 : data[9] === 2 ? 3 : 0;
      assert.ok(channels, 'colour type RGB or RGBA');
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const prev = Buffer.alloc(stride);
  const cur = Buffer.alloc(stride);
  const colours = new Set<number>();
  for (let y = 0; y < height; y++) {
    const base = y * (stride + 1);
    const filter = raw[base]!;
    for (let x = 0; x < stride; x++) {
      const v = raw[base + 1 + x]!;
      const a = x >= channels ? cur[x - channels]! : 0;
      const b = prev[x]!;
      const c = x >= channels ? prev[x - channels]! : 0;
      let p: number;
      switch (filter) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) >> 1; break;
        default: {
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        }
      }
      cur[x] = (v + p) & 0xff;
    }
    for (let x = 0; x < stride; x += channels) colours.add((cur[x]! << 16) | (cur[x + 1]! << 8) | cur[x + 2]!);
    cur.copy(prev);
  }
  return { width, height, colours: colours.size };
}

test('HTML page in headless Chromium: drawn, node and edge clicked, figures shown, screenshot taken, no network', { skip: noCorpus || (!existsSync(CHROMIUM) && 'chromium is not installed') }, async () => {
  const { chromium } = await import('playwright-core');
  const dir = mkdtempSync(join(tmpdir(), 'pano-html-'));
  const json = JSON.parse(pipeline(CAPTURES, [], { pii: true })) as GraphSnapshot;
  const html = pipeline(CAPTURES, ['--format', 'html'], { pii: true });
  const page1 = join(dir, 'graph.html');
  writeFileSync(page1, html);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(pathToFileURL(page1).href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
    assert.deepEqual(errors, []);
    assert.deepEqual(requests, [pathToFileURL(page1).href], 'the page fetches nothing');

    // drawn: every node and edge of the JSON graph is in the drawing, inside the viewport
    const drawn = await page.evaluate(() => {
      const cy = (window as any).panoGraph.cy;
      return {
        nodes: cy.nodes().map((n: any) => n.id().slice(2)).sort(),
        edges: cy.edges().length,
        box: cy.elements().renderedBoundingBox(),
      };
    });
    assert.deepEqual(drawn.nodes, json.nodes.map((n) => n.id).sort());
    assert.equal(drawn.edges, json.edges.length);
    assert.ok(drawn.box.w > 100 && drawn.box.h > 50, `drawing spans ${drawn.box.w}×${drawn.box.h}`);

    // click the node of the POST capture's server
    const target = json.nodes.find((n) => n.addresses.includes('69.163.176.56'))!;
    const pos = await page.evaluate((id) => {
      const cy = (window as any).panoGraph.cy;
      const p = cy.getElementById('n:' + id).renderedPosition();
      const r = cy.container().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    }, target.id);
    await page.mouse.click(pos.x, pos.y);
    await page.waitForSelector(`#details[data-kind="node"]`);
    const figures = async () =>
      page.$$eval('#details tr', (rows) => Object.fromEntries(rows.map((r) => [r.getAttribute('data-key'), (r.children[1] as HTMLElement).innerText])));
    assert.equal(await page.getAttribute('#details', 'data-selected'), target.id);
    const nf = await figures();
    assert.equal(nf.addresses, target.addresses.join(', '));
    assert.equal(nf.ports, target.ports.join(', '));
    assert.equal(nf.requests_served, String(target.requests_served));
    assert.equal(nf.protocols, target.protocols.join(', '));

    // click the edge into it: the PII it carried is shown
    const edge = json.edges.find((e) => e.target === target.id)!;
    const mid = await page.evaluate((i) => {
      const cy = (window as any).panoGraph.cy;
      const e = cy.edges().filter((x: any) => x.data('source') === 'n:' + i.source && x.data('target') === 'n:' + i.target)[0];
      const p = e.renderedMidpoint();
      const r = cy.container().getBoundingClientRect();
      return { x: r.left + p.x, y: r.top + p.y };
    }, { source: edge.source, target: edge.target });
    await page.mouse.click(mid.x, mid.y);
    await page.waitForSelector(`#details[data-kind="edge"]`);
    assert.equal(await page.getAttribute('#details', 'data-selected'), edge.id);
    const ef = await figures();
    assert.equal(ef.requests, String(edge.requests));
    assert.equal(ef.errors, String(edge.errors));
    assert.equal(ef.bytes_c2s, String(edge.bytes.client_to_server));
    const piiText = (m: Record<string, number>) => Object.entries(m).map(([t, n]) => `${t} ×${n}`).join(', ') || '-';
    assert.match(ef.pii_c2s!, /email ×\d/);
    assert.equal(ef.pii_c2s, piiText(edge.pii.client_to_server));
    assert.equal(ef.pii_s2c, piiText(edge.pii.server_to_client));
    assert.equal(await page.$eval('#details tr[data-key="pii_c2s"] td:last-child', (td) => getComputedStyle(td).color), 'rgb(204, 0, 0)');

    const shot = await page.screenshot({ path: join(dir, 'graph.png') });
    const img = pngColours(shot);
    assert.deepEqual([img.width, img.height], [1200, 800]);
    assert.ok(img.colours > 20, `screenshot has ${img.colours} colours: something was drawn`);
    assert.ok(readFileSync(join(dir, 'graph.png')).equals(shot));
  } finally {
    await browser.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DOT output renders with Graphviz: one node and one edge per graph element', { skip: noCorpus || (!existsSync('/usr/bin/dot') && 'graphviz is not installed') }, () => {
  const json = JSON.parse(pipeline(CAPTURES, [], { pii: true })) as GraphSnapshot;
  const dot = pipeline(CAPTURES, ['--format', 'dot'], { pii: true });
  const svg = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
  assert.equal(svg.status, 0, svg.stderr);
  assert.equal(svg.stderr, '', 'dot has no warnings');
  const titles = (cls: string) => [...svg.stdout.matchAll(new RegExp(`<g id="[^"]+" class="${cls}">\\s*<title>([^<]*)</title>`, 'g'))].map((m) => m[1]!.replace(/&#45;/g, '-').replace(/&gt;/g, '>'));
  assert.deepEqual(titles('node').sort(), json.nodes.map((n) => n.id).sort());
  assert.deepEqual(titles('edge').sort(), json.edges.map((e) => `${e.source}->${e.target}`).sort());
  // PII edges are red
  const piiEdges = json.edges.filter((e) => e.pii_types.length).length;
  assert.ok(piiEdges > 0);
  assert.equal((svg.stdout.match(/<path fill="none" stroke="red"/g) ?? []).length, piiEdges);
});

test('Mermaid output: one node line per node, one link per edge, PII links styled', { skip: noCorpus }, () => {
  const json = JSON.parse(pipeline(CAPTURES, [], { pii: true })) as GraphSnapshot;
  const mm = pipeline(CAPTURES, ['--format', 'mermaid'], { pii: true }).split('\n');
  assert.equal(mm[0], 'flowchart LR');
  assert.equal(mm.filter((l) => /^ {2}n\d+\["/.test(l)).length, json.nodes.length);
  const links = mm.filter((l) => / -->\|/.test(l));
  assert.equal(links.length, json.edges.length);
  const pii = json.edges.map((e, i) => (e.pii_types.length ? i : -1)).filter((i) => i >= 0);
  assert.ok(mm.includes(`  linkStyle ${pii.join(',')} stroke:#d00,stroke-width:3px,color:#d00`));
});

test('control characters in names and addresses are drawn as their Control Pictures: Graphviz takes the DOT, Mermaid lines stay whole', { skip: !existsSync('/usr/bin/dot') && 'graphviz is not installed' }, async () => {
  // found by scripts/fuzz-events.ts: a NUL in an event's address made `dot` fail with a syntax error
  const { GraphBuilder, renderDot, renderMermaid } = await import('@panopticon/graph');
  const g = new GraphBuilder();
  g.add({
    pano: { v: 1, id: '1-1', kind: 'exchange', protocol: 'http', start_ns: '1', end_ns: '2', duration_ns: 1, time: '', source: { type: 'pcap' }, connection: { id: 1, roles: 'syn' } },
    client: { address: 'a\u0000b\u001b[31mc\u007fd\re\nf', port: 1 },
    server: { address: '10.0.0.2', port: 80 },
  });
  const snap = g.snapshot();
  const svg = spawnSync('dot', ['-Tsvg'], { input: renderDot(snap), encoding: 'utf8' });
  assert.equal(svg.status, 0, svg.stderr);
  assert.equal(svg.stderr, '', 'dot has no warnings');
  assert.ok(svg.stdout.includes('<title>a␀b␛[31mc␡d e f</title>'), svg.stdout);
  const mm = renderMermaid(snap);
  assert.ok(!/[\u0000-\u0009\u000b-\u001f\u007f]/.test(mm), JSON.stringify(mm));
  assert.ok(mm.split('\n').some((l) => /^ {2}n\d+\["a␀b␛\[31mc␡d e f/.test(l)), mm);
});

test('a name or address too long for a Graphviz string is cut with a hash of the whole: the node stays its own, dot takes it', { skip: !existsSync('/usr/bin/dot') && 'graphviz is not installed' }, async () => {
  // found by scripts/fuzz-events.ts: a 300,000-character "address" made a DOT string Graphviz refuses (over 16384)
  const { GraphBuilder, renderDot } = await import('@panopticon/graph');
  const g = new GraphBuilder();
  const long = (c: string) => c.repeat(20_000);
  const add = (i: number, client: string, extra: Record<string, unknown> = {}) =>
    g.add({
      pano: { v: 1, id: `${i}-1`, kind: 'exchange', protocol: 'http', start_ns: '1', end_ns: '2', duration_ns: 1, time: '', source: { type: 'pcap' }, connection: { id: i, roles: 'syn' } },
      client: { address: client, port: 1 },
      server: { address: '10.0.0.2', port: 80 },
      ...extra,
    });
  // (the builder cuts each text past 1024 characters itself: builder.test.ts)
  for (const [i, client] of [long('1'), long('1') + '2', long('"')].entries()) add(i, client);
  // a label of many texts within that bound: eight process names of 1000 characters on one node
  for (let i = 0; i < 8; i++) add(10 + i, '10.0.0.9', { process: { executable: { name: String(i).repeat(1000) } } });
  const svg = spawnSync('dot', ['-Tsvg'], { input: renderDot(g.snapshot()), encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.equal(svg.status, 0, svg.stderr.slice(0, 500));
  assert.equal(svg.stderr, '', 'dot has no warnings');
  // three client nodes and the server, each edge its own
  const titles = [...svg.stdout.matchAll(/<g id="node\d+" class="node">\s*<title>([^<]*)<\/title>/g)].map((m) => m[1]!);
  assert.equal(titles.length, 5);
  assert.equal(new Set(titles).size, 5);
  assert.equal((svg.stdout.match(/class="edge"/g) ?? []).length, 4);
  assert.ok(titles.some((t) => t.startsWith('1'.repeat(900)) && t.includes('…(20000 characters, sha256 ')), titles.map((t) => t.slice(-60)).join(' | '));
  // the label past 4096 characters: its start, then its length and hash
  assert.match(svg.stdout, /0{1000},1{1000},2{1000},3{900}\S*?…\(8\d{3} characters, sha256 [0-9a-f]{16}\)/);
});
