/**
 * Every real capture in the shared corpus, read by our reader and by tshark:
 * same frame count, the same epoch timestamps to the nanosecond, the same
 * captured and original lengths, the same interface names, and no warnings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { collect, corpusDir, corpusFiles, epochString, tsharkFields, tsharkMissing } from './support.js';

const missing = tsharkMissing();
const files = corpusFiles();

test('the corpus is present', () => {
  assert.ok(files.length >= 100, `expected the shared corpus under ${corpusDir}, found ${files.length} files`);
});

for (const file of files) {
  test(`corpus ${relative(corpusDir, file)} matches tshark`, { skip: missing }, () => {
    const got = collect([readFileSync(file)]);
    assert.deepEqual(got.warnings, []);
    const rows = tsharkFields(file, ['frame.time_epoch', 'frame.cap_len', 'frame.len', 'frame.interface_name']);
    // tshark 4 shows pcapng custom blocks as frames too; line both up in stream order.
    const records = [
      ...got.packets.map((p) => ({ offset: p.offset, packet: p })),
      ...got.custom.map((b) => ({ offset: b.offset, custom: b })),
    ].sort((a, b) => a.offset - b.offset);
    assert.equal(records.length, rows.length, 'frame count (packets plus custom blocks)');
    const names = new Map(got.interfaces.map((i) => [i.section * 0x10000 + i.id, i.name]));
    let lastTs = 0n;
    for (let i = 0; i < rows.length; i++) {
      const [epoch, capLen, len, ifName] = rows[i];
      const { packet: p, custom: c, offset } = records[i];
      const where = `frame ${i + 1} at offset ${offset}`;
      if (c) {
        assert.equal(epoch, '', `${where}: tshark sees a custom block with a timestamp`);
        assert.equal(c.data.length, Number(capLen), `${where}: custom data length`);
        continue;
      }
      assert.ok(p);
      if (epoch === '') {
        // A Simple Packet Block has no timestamp; ours carries the latest one seen.
        assert.equal(p.tsNs, lastTs, `${where}: simple packet block timestamp`);
      } else {
        assert.equal(epochString(p.tsNs), epoch, `${where}: timestamp`);
      }
      lastTs = p.tsNs;
      // tshark 4.0 looks interface names up by the section-local id in its list of ALL
      // interfaces, so in a second section it names the wrong one (gopacket-be-test202:
      // section 1's interface 0 shown as section 0's "eth0"). The spec ties ids to the
      // interfaces of their own section, which is what we report; compare section 0 only.
      const checkName = p.interfaceKey < 0x10000;
      assert.equal(p.capturedLength, Number(capLen), `${where}: captured length`);
      assert.equal(p.data.length, p.capturedLength, `${where}: data length`);
      assert.equal(p.originalLength, Number(len), `${where}: original length`);
      // tshark prints "unknown" for a pcapng interface without if_name and nothing for pcap.
      const expectedName = ifName === 'unknown' || ifName === '' ? undefined : ifName;
      if (got.stats.format === 'pcapng' && checkName) assert.equal(names.get(p.interfaceKey), expectedName, `${where}: interface name`);
    }
  });
}
