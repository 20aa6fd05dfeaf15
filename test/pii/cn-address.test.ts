// Chinese street addresses (cn-address.ts): hand-written addresses in the
// order every Chinese address is written (province, city, district, town,
// road, section, number, building, room), found whole; place names alone,
// roads alone, company names and prose are not; the two addresses of the
// deepflow PostgreSQL capture's company row are found by EventScanner
// without the model, and masked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cnAddresses, EventScanner } from '@panopticon/pii';

const found = (s: string) => cnAddresses(s).map((h) => s.slice(h.start, h.end));

test('addresses: levels, road, section, number, building and room, found whole', () => {
  for (const a of [
    '四川省德阳市广汉市中山大道南段',
    '四川省德阳市广汉市中山大道南二段',
    '北京市东城区东长安街16号',
    '上海市浦东新区世纪大道100号',
    '广东省广州市天河区天河路385号',
    '广西壮族自治区南宁市青秀区民族大道100号',
    '北京市海淀区中关村大街27号1号楼3单元502室',
    '南京路100号',
  ]) assert.deepEqual(found(a), [a], a);
});

test('inside text: the address without the words around it', () => {
  assert.deepEqual(found('地址：浙江省杭州市西湖区文三路478号华星时代广场A座12层，邮编310012'), ['浙江省杭州市西湖区文三路478号']);
  assert.deepEqual(found('我住在杭州市西湖区文三路478号。'), ['杭州市西湖区文三路478号']);
  assert.deepEqual(found('收货地址为江苏省苏州市工业园区星湖街328号，谢谢'), ['江苏省苏州市工业园区星湖街328号']);
  const two = '寄到上海市浦东新区世纪大道100号，或者北京市东城区东长安街16号';
  assert.deepEqual(found(two), ['上海市浦东新区世纪大道100号', '北京市东城区东长安街16号']);
  const h = cnAddresses(two)[0]!;
  assert.deepEqual([h.type, h.detector, h.validator], ['street_address', 'regex', 'cn-address-levels']);
});

test('not addresses: places alone, a road alone, company names, prose, other scripts', () => {
  for (const s of ['北京市朝阳区', '中山路', '我们在北京市朝阳区见面了', '我在上海市的街上走', '他说这个道理很简单，我知道了', '四川宏华石油设备有限公司', '乐歌人体工学科技股份有限公司投资美国海外仓乐仓三期项目', '海投股权险2015年3月版', '宁波分公司', '中国', '221B Baker Street', ''])
    assert.deepEqual(found(s), [], s);
});

test('a long run without punctuation is searched in windows: an address deep inside is found once', () => {
  const s = '中'.repeat(300) + '，北京市东城区东长安街16号' + '中'.repeat(10) + '上海市浦东新区世纪大道100号' + '中'.repeat(300);
  assert.deepEqual(found(s), ['北京市东城区东长安街16号', '上海市浦东新区世纪大道100号']);
});

test('EventScanner: the two addresses of a PostgreSQL result row, without the model, masked', () => {
  // from postgresql/deepflow-pgsql-all.pcap, event 1-32 (a company contact row; columns unnamed mid-stream)
  const ev = { db: { response: { rows: [{ '6': '四川宏华石油设备有限公司', '12': '四川省德阳市广汉市中山大道南段', '13': '四川省德阳市广汉市中山大道南二段', '15': '中国' }] } } } as Record<string, unknown>;
  const s = new EventScanner({ key: Buffer.alloc(32), redact: 'mask' });
  const p = s.collect(ev);
  const f = s.finish(p);
  assert.deepEqual(f.map((x) => [x.type, x.path, x.start, x.end]), [
    ['street_address', 'db.response.rows[0].12', 0, 15],
    ['street_address', 'db.response.rows[0].13', 0, 16],
  ]);
  const row = (ev.db as { response: { rows: Array<Record<string, string>> } }).response.rows[0]!;
  assert.equal(row['6'], '四川宏华石油设备有限公司');
  assert.match(row['12']!, /^<street_address:/);
});

test("EventScanner: an address in a long text value (the scanner's long-value path) and in a short one", () => {
  const long = '您好，' + '我们的订单已经发出，请注意查收。'.repeat(8) + '收货地址为江苏省苏州市工业园区星湖街328号，谢谢。';
  assert.ok(long.length > 96);
  const ev = { http: { request: { body: { content: JSON.stringify({ note: long, city: '苏州市星湖街8号' }) } } } } as Record<string, unknown>;
  const s = new EventScanner({ key: Buffer.alloc(32) });
  const f = s.finish(s.collect(ev));
  assert.deepEqual(f.map((x) => [x.path, x.type]), [
    ['http.request.body.content$.note', 'street_address'],
    ['http.request.body.content$.city', 'street_address'],
  ]);
  assert.equal(long.slice(f[0]!.start, f[0]!.end), '江苏省苏州市工业园区星湖街328号');
});
