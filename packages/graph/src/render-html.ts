/**
 * A self-contained HTML page: the snapshot as inline JSON, cytoscape (from
 * the npm package, read from node_modules when the page is written, so
 * nothing is vendored by hand and nothing is fetched when the page is
 * opened), and a small script that draws the graph and shows a node's or
 * edge's figures when it is clicked. A Content-Security-Policy forbids any
 * network access from the page.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { GraphSnapshot } from './snapshot.js';

let cytoscapeSource: string | undefined;

function cytoscapeScript(): string {
  if (cytoscapeSource === undefined) {
    const require = createRequire(import.meta.url);
    const main = require.resolve('cytoscape');
    const text = readFileSync(join(dirname(main), 'cytoscape.min.js'), 'utf8');
    // a literal "</script" inside the library would end the element early
    cytoscapeSource = text.replace(/<\/script/gi, '<\\/script');
  }
  return cytoscapeSource;
}

/** JSON that is safe inside a <script> element. */
function inlineJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

const STYLE = `
html,body{margin:0;height:100%;font:14px/1.4 system-ui,Helvetica,Arial,sans-serif;color:#222}
#wrap{display:flex;height:100%}
#cy{flex:1;min-width:0;background:#fafafa}
#side{width:340px;overflow:auto;border-left:1px solid #ddd;padding:12px;box-sizing:border-box}
#side h2{font-size:16px;margin:0 0 8px}
#side table{border-collapse:collapse;width:100%}
#side td{border-bottom:1px solid #eee;padding:3px 4px;vertical-align:top;overflow-wrap:anywhere}
#side td:first-child{color:#666;white-space:nowrap}
.pii{color:#c00;font-weight:bold}
#summary{color:#666;font-size:12px;margin-bottom:10px}
`;

const APP = String.raw`
(function(){
  var g = JSON.parse(document.getElementById('pano-graph-data').textContent);
  function dur(ns){ if(ns===null||ns===undefined) return '-'; if(ns<1e3) return ns+' ns'; if(ns<1e6) return (ns/1e3).toFixed(1)+' µs'; if(ns<1e9) return (ns/1e6).toFixed(2)+' ms'; return (ns/1e9).toFixed(3)+' s'; }
  function esc(s){ return String(s).replace(/[&<>"]/g,function(c){return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c];}); }
  function piiText(m){ var k=Object.keys(m); return k.length? k.map(function(t){return t+' ×'+m[t];}).join(', ') : '-'; }
  function row(name,key,value,cls){ return '<tr data-key="'+key+'"><td>'+esc(name)+'</td><td'+(cls?' class="'+cls+'"':'')+'>'+esc(value)+'</td></tr>'; }
  var side = document.getElementById('details');
  document.getElementById('summary').textContent = g.nodes.length+' nodes, '+g.edges.length+' edges, '+g.counts.events+' events';
  function showNode(n){
    side.dataset.selected = n.id; side.dataset.kind = 'node';
    side.innerHTML = '<h2>'+esc(n.label)+'</h2><table>'+
      row('names','names',n.names.join(', ')||'-')+row('addresses','addresses',n.addresses.join(', '))+
      row('ports served','ports',n.ports.join(', ')||'-')+row('processes','processes',n.processes.join(', ')||'-')+
      row('protocols','protocols',n.protocols.join(', '))+row('requests served','requests_served',n.requests_served)+
      row('requests made','requests_made',n.requests_made)+'</table>';
  }
  function showEdge(e){
    side.dataset.selected = e.id; side.dataset.kind = 'edge';
    var pii = e.pii_types.length>0;
    side.innerHTML = '<h2>'+esc(e.source)+' → '+esc(e.target)+'</h2><table>'+
      row('protocol','protocol',e.protocol)+row('requests','requests',e.requests)+row('errors','errors',e.errors)+
      row('unanswered','unanswered',e.unanswered)+row('latency p50','p50',dur(e.latency_ns.p50))+row('latency p95','p95',dur(e.latency_ns.p95))+
      row('latency p99','p99',dur(e.latency_ns.p99))+row('bytes client → server','bytes_c2s',e.bytes.client_to_server)+
      row('bytes server → client','bytes_s2c',e.bytes.server_to_client)+row('first seen','first_seen',e.first_seen||'-')+row('last seen','last_seen',e.last_seen||'-')+
      row('PII client → server','pii_c2s',piiText(e.pii.client_to_server),pii?'pii':'')+
      row('PII server → client','pii_s2c',piiText(e.pii.server_to_client),pii?'pii':'')+'</table>';
  }
  var byId = {};
  var els = [];
  g.nodes.forEach(function(n){ byId['n:'+n.id]=n; els.push({group:'nodes',data:{id:'n:'+n.id,label:n.label}}); });
  g.edges.forEach(function(e,i){ byId['e:'+i]=e; els.push({group:'edges',data:{id:'e:'+i,source:'n:'+e.source,target:'n:'+e.target,
    label:e.protocol+' '+e.requests+(e.errors?' ('+e.errors+' err)':''),pii:e.pii_types.length>0?1:0,err:e.errors>0?1:0}}); });
  var cy = cytoscape({
    container: document.getElementById('cy'), elements: els, wheelSensitivity: 0.3,
    style: [
      {selector:'node',style:{'label':'data(label)','background-color':'#4a78c2','color':'#222','font-size':11,'text-valign':'bottom','text-margin-y':4,'width':26,'height':26}},
      {selector:'node:selected',style:{'background-color':'#f0a30a'}},
      {selector:'edge',style:{'label':'data(label)','curve-style':'bezier','target-arrow-shape':'triangle','width':2,'line-color':'#999','target-arrow-color':'#999','font-size':9,'text-rotation':'autorotate','text-background-color':'#fafafa','text-background-opacity':1}},
      {selector:'edge[err = 1]',style:{'line-color':'#e8a317','target-arrow-color':'#e8a317'}},
      {selector:'edge[pii = 1]',style:{'line-color':'#d00','target-arrow-color':'#d00','width':4,'color':'#d00'}},
      {selector:'edge:selected',style:{'line-color':'#f0a30a','target-arrow-color':'#f0a30a'}}
    ],
    layout: {name:'breadthfirst',directed:true,padding:30,spacingFactor:1.2}
  });
  cy.on('tap','node',function(ev){ showNode(byId[ev.target.id()]); });
  cy.on('tap','edge',function(ev){ showEdge(byId[ev.target.id()]); });
  window.panoGraph = {cy: cy, graph: g};
  document.body.dataset.ready = '1';
})();
`;

export function renderHtml(g: GraphSnapshot, title = 'Panopticon service map'): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${title.replace(/[<&]/g, '')}</title>
<style>${STYLE}</style></head>
<body><div id="wrap"><div id="cy"></div><div id="side"><div id="summary"></div><div id="details">Click a node or an edge to see its figures.</div></div></div>
<script type="application/json" id="pano-graph-data">${inlineJson(g)}</script>
<script>${cytoscapeScript()}</script>
<script>${APP}</script>
</body></html>
`;
}
