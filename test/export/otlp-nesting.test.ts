// --otlp: an event from another producer (or edited by hand) may nest its values thousands of levels
// deep. Found by scripts/fuzz-events.ts: the span mapping followed every level, in recursion, and the
// stack ran out (pano-export exited 70, "internal error: Maximum call stack size exceeded"). Past
// MAX_NESTING levels the value leaves as JSON text with the deeper levels cut, and says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ev, exportedSpans } from './fixtures.js';

const DEPTH = 20_000;
const CUT = '<cut: nested deeper than 64 levels>';

/** `leaf` inside DEPTH levels of `open`…`close`, as JSON text (JSON.stringify itself stops a few thousand levels down). */
function nested(open: string, close: string): string {
  return open.repeat(DEPTH) + '"leaf"' + close.repeat(DEPTH);
}

for (const args of [[], ['--otlp-content', '--otlp-credentials']]) {
  test(`values nested ${DEPTH} levels deep become one span with the depths past 64 cut${args.length ? ` (${args.join(' ')})` : ''}`, async () => {
    const e = ev({ id: '1-1', protocol: 'dns', groups: { dns: { question: { name: 'example.com', type: 'A' }, answers: 'ANSWERS' }, custom: 'CUSTOM' } });
    const line = JSON.stringify(e).replace('"ANSWERS"', nested('[', ']')).replace('"CUSTOM"', nested('{"k":', '}'));
    const by = await exportedSpans(line + '\n', args, 1);
    const attrs = by['1-1']!.attributes;
    assert.equal(attrs['dns.question.name'], 'example.com');
    // the list of records: JSON text, 64 levels of it, then the mark
    const answers = attrs['dns.answers'] as string;
    assert.equal(answers, '['.repeat(64) + JSON.stringify(CUT) + ']'.repeat(64));
    // the object: flattened 64 levels down, then JSON text holding the mark
    const deepKey = 'custom' + '.k'.repeat(64);
    assert.equal(attrs[deepKey], '{"k":'.repeat(64) + JSON.stringify(CUT) + '}'.repeat(64));
  });
}
