/**
 * Street addresses written in Chinese. Their form is fixed from large to
 * small, each level closed by its own character: province (省, 自治区, or a
 * municipality 北京市 …), prefecture (市, 州, 盟, 地区), county (区, 县, 市,
 * 旗), town (镇, 乡, 街道), then the road (路, 街, 大道, 巷, 弄, 胡同, …) with
 * its section (南段, 二段) and number (16号), building and room. So a rule
 * decides them: a road after at least one administrative level, or a road
 * with its number. Place names alone (北京市朝阳区), a road alone (中山路)
 * and company names (四川宏华石油设备有限公司) are not addresses. The span
 * model has never seen Chinese, and capital letters, which its candidates
 * start from, do not exist there.
 */
import type { Hit } from './scan.js';

/** Provinces, autonomous regions, municipalities and special regions: where most written addresses start. */
const PROVINCES = '北京|天津|上海|重庆|河北|山西|内蒙古|辽宁|吉林|黑龙江|江苏|浙江|安徽|福建|江西|山东|河南|湖北|湖南|广东|广西|海南|四川|贵州|云南|西藏|陕西|甘肃|青海|宁夏|新疆|台湾|香港|澳门';
// The name part of a level holds no level-ending character: a run of them ("市市市…") would otherwise be
// split every way between the levels (measured: 40 ms for 4096 characters; now linear). Nor the words
// that lead up to an address in prose (我住在, 地址为, 位于), which would join the city's name.
const N = String.raw`[[\u4e00-\u9fff]--[省市区县旗镇乡在住于为是的到从往至我你他她址]]`;
/** What follows a province's name: 省, 市 for a municipality, or the kind of region. */
const PROVINCE_END = '(?:省|市|自治区|特别行政区|壮族自治区|回族自治区|维吾尔自治区)';
const ADMIN = String.raw`(?:(?:${PROVINCES})${PROVINCE_END}?|${N}{2,7}?(?:省|自治区))?(?:${N}{1,6}?(?:市|州|盟|地区))?(?:${N}{1,6}?(?:区|县|市|旗))?(?:${N}{1,6}?(?:镇|乡|街道))?`;
// a road's name has two characters at least (中山路, 东长安街): "的街" in prose is no road; it holds no
// level ending either, so an address without levels cannot start inside prose before them
const ROAD = String.raw`${N}{2,10}?(?:大道|大街|路|街|道|巷|弄|胡同)`;
const NUM = String.raw`[0-9０-９一二三四五六七八九十百零〇]{1,5}`;
const TAIL = String.raw`(?:[东南西北中]?(?:${NUM})?段)?(?:${NUM}号)?(?:${NUM}(?:号楼|栋|幢|座|单元|层|楼|室)){0,4}`;
const ADDRESS = new RegExp(`(${ADMIN})${ROAD}(${TAIL})`, 'gv');
const HAN = /[\u4e00-\u9fff]/;
const PROVINCE_AT = new RegExp(`(?:${PROVINCES})${PROVINCE_END}`);
const LEVEL_END = /[省市区县旗镇乡州盟]/;
/** Runs of Han characters and digits: an address is one, prose breaks them at every comma. */
const RUN = /[\u4e00-\u9fff0-9０-９]{5,}/g;
const ROAD_CHAR = /[路街道巷弄胡]/;
/** The regex's work grows with the length of what it is run on: long runs go in overlapping windows. */
const WINDOW = 128, STEP = 64;

/** Chinese street addresses in `value` (none, quickly, when it holds no Han character). */
export function cnAddresses(value: string): Hit[] {
  if (!HAN.test(value)) return [];
  const out: Hit[] = [];
  RUN.lastIndex = 0;
  let r: RegExpExecArray | null;
  while ((r = RUN.exec(value)) !== null) {
    const run = r[0];
    if (!ROAD_CHAR.test(run)) continue;
    const step = run.length <= 2 * WINDOW ? run.length : STEP;
    for (let w = 0; w < run.length; w += step) {
      const part = step === run.length ? run : run.slice(w, w + WINDOW);
      ADDRESS.lastIndex = 0;
      let m: RegExpExecArray | null;
      while ((m = ADDRESS.exec(part)) !== null) {
        // an administrative level before the road, or the road's number after it
        if (m[1]!.length === 0 && !m[2]!.includes('号')) continue;
        // the leftmost match may take words before a province into the city's name ("或者北京市…"): a
        // province named after a prefix with no level ending in it starts the address
        const k = m[1]!.search(PROVINCE_AT);
        const lead = k > 0 && !LEVEL_END.test(m[1]!.slice(0, k)) ? k : 0;
        const start = r.index + w + m.index + lead, end = r.index + w + m.index + m[0].length;
        const last = out[out.length - 1];
        // overlapping windows find an address twice, or cut at a window's end: keep the longest
        if (last && start < last.end) {
          if (start === last.start && end > last.end) last.end = end;
          continue;
        }
        out.push({ type: 'street_address', start, end, confidence: 0.85, detector: 'regex', validator: 'cn-address-levels' });
      }
    }
  }
  return out;
}
