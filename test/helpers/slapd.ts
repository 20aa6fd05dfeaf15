/**
 * A private OpenLDAP server (Debian's slapd 2.5) per test file: `slapd -f
 * CONF -h ldap://127.0.0.1:PORT/ -d 256` in the foreground with everything
 * in a temp dir (a slapd.conf, the mdb database seeded by slapadd from the
 * LDIF of SEED, a self-signed certificate for StartTLS), on a free port of
 * 127.0.0.1; and the LDAP client traffic the LDAP live and oracle tests share
 * (ldapScenario: test/fixtures/ldap/client.py, Python's ldap3, one connection
 * per mode, and one ldapsearch of ldap-utils), with what its transcript says
 * the events must be.
 *
 * The config is slapd.conf style (2.5 still reads it): the core, cosine,
 * inetOrgPerson and nis schemas (people are inetOrgPerson and posixAccount,
 * for uidNumber's ordering match), back_mdb, the syncprov overlay (a
 * refreshAndPersist search, RFC 4533, is a search that never ends by itself:
 * what an Abandon is for), a rootdn with a cleartext rootpw, and ACLs that
 * let a user write their own userPassword and hide it from everyone else
 * (the rootdn bypasses them). Run as root (as the suite is, for tcpdump):
 * slapd stays root without -u and reads its files itself.
 * -d 256 is the stats log level, written to stderr in the foreground and so
 * to ServerProcess.log: a line per connection accepted (with the client's
 * port), per operation and per result (connections()). start() returns once
 * slapd has logged the end of waitReady's probe connection, so nothing of it
 * lands in a capture started next. It is started under setpriv
 * --pdeathsig, so a test process that dies without stopping it takes it along.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';
import type { PanoEvent } from '@panopticon/events';
import { freePort, tcpdumpAvailable } from './loopback-capture.js';
import { runClient, type ClientResult } from './client-process.js';
import { inTempDir, ServerProcess, sleep } from './server-process.js';

export const SLAPD = '/usr/sbin/slapd';
export const SLAPADD = '/usr/sbin/slapadd';
export const LDAPSEARCH = '/usr/bin/ldapsearch';
/** The Debian python (with python3-ldap3), not whatever python3 the PATH finds first. */
export const PYTHON = '/usr/bin/python3';
export const OPENSSL = '/usr/bin/openssl';
const SETPRIV = '/usr/bin/setpriv';
export const LDAP_CLIENT = join(import.meta.dirname, '../fixtures/ldap/client.py');
const SCHEMA_DIR = '/etc/ldap/schema';
const MODULE_DIR = '/usr/lib/ldap';

/** The certificate's name. */
export const SERVER_NAME = 'ldap.example.test';

export const SUFFIX = 'dc=example,dc=org';
export const PEOPLE = `ou=people,${SUFFIX}`;
export const STAFF = `ou=staff,${SUFFIX}`;
/** A referral object (RFC 4516's ref attribute, objectClass referral): a subtree search over it returns a reference, a search under it a referral. */
export const REMOTE = `ou=remote,${SUFFIX}`;
export const REMOTE_URL = `ldap://ldap.remote.example/${REMOTE}`;
/** Past the event's limits: a group with MANY members (memberUid values) and MANY devices under BULK. */
export const BULK = `ou=bulk,${SUFFIX}`;
export const GROUP = `cn=crowd,${BULK}`;
export const MANY = 105;
export const MEMBERS = Array.from({ length: MANY }, (_, i) => `user${String(i).padStart(3, '0')}`);
export const DEVICES = Array.from({ length: MANY }, (_, i) => `cn=host-${String(i).padStart(3, '0')},${BULK}`);
/** What an event keeps: entries of a search, values of an attribute (pano-events(5), ldap). */
export const MAX_ENTRIES = 100;
export const MAX_VALUES = 100;
export const ADMIN = { dn: `cn=admin,${SUFFIX}`, password: 'secret-admin-pw' };
/** The password the refused bind gives for the admin. */
export const WRONG_PASSWORD = 'not-the-admin-pw';

/** What an LDAP live test needs that is not installed (tcpdump and, for the scenario, ldap-utils and python3-ldap3 included). */
export function slapdMissing(): string[] {
  const missing: string[] = [];
  if (!existsSync(SLAPD) || !existsSync(SLAPADD) || !existsSync(join(MODULE_DIR, 'back_mdb.so')) || !existsSync(join(MODULE_DIR, 'syncprov.so'))) missing.push('slapd');
  if (!existsSync(LDAPSEARCH)) missing.push('ldap-utils');
  if (!existsSync(OPENSSL)) missing.push('openssl');
  if (!tcpdumpAvailable()) missing.push('tcpdump');
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import ldap3, ssl; ssl.SSLContext.keylog_filename'], { stdio: 'ignore' }).status !== 0) missing.push('python3-ldap3');
  return missing;
}

// ---------------------------------------------------------------------------
// The directory every server starts with

/** An entry: its DN and its attributes in order, each type to its values (bytes for binary ones). */
export interface SeedEntry {
  dn: string;
  attributes: Array<[string, Array<string | Buffer>]>;
}

/**
 * A JPEG-like photo of `size` bytes (SOI, a JFIF APP0 header, bytes that are
 * not UTF-8, EOI): binary to an LDAP client, which slapd takes as is.
 */
export function photo(size: number, seed: number): Buffer {
  const head = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex');
  const b = Buffer.alloc(size);
  head.copy(b);
  let x = seed;
  for (let i = head.length; i < size - 2; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = 0x80 | ((x >>> 16) & 0x7f);
  }
  b[size - 2] = 0xff;
  b[size - 1] = 0xd9;
  return b;
}

/** Alice's photo: binary, at most 256 bytes (the event keeps its base64). */
export const SMALL_PHOTO = photo(200, 7);
/** Bob's photo: binary, over 256 bytes (the event keeps its size); 100 KB, so its entry spans TCP segments (loopback's 64 KiB MTU). */
export const LARGE_PHOTO = photo(100_000, 11);

/** Frank's description: text over 4096 bytes (the event keeps its size and first 4096 bytes, truncated). */
export const LONG_DESCRIPTION = Array.from({ length: 100 }, (_, i) => `Note ${String(i).padStart(3, '0')}: on call for the directory migration.`).join(' ');

export interface Person {
  uid: string;
  cn: string;
  sn: string;
  password: string;
  uidNumber: number;
  mail: string[];
  telephoneNumber?: string;
  postalAddress?: string;
  description?: string;
  jpegPhoto?: Buffer;
}

/** The people under PEOPLE, in the order slapadd stores them (and slapd returns them). */
export const PERSONS: Person[] = [
  { uid: 'alice', cn: 'Alice Chen', sn: 'Chen', password: 'alice-pw-0417', uidNumber: 1001, mail: ['alice.chen@example.org', 'alice@example.org'],
    telephoneNumber: '+1 415 555 0142', postalAddress: '1 Market St$San Francisco, CA 94105', description: 'Team lead', jpegPhoto: SMALL_PHOTO },
  { uid: 'bob', cn: 'Bob Rossi', sn: 'Rossi', password: 'bob-pw-2291', uidNumber: 1002, mail: ['bob.rossi@example.org'],
    telephoneNumber: '+39 02 555 0199', postalAddress: 'Via Roma 10$20121 Milano', jpegPhoto: LARGE_PHOTO },
  { uid: 'chloe', cn: 'Chloé Müller', sn: 'Müller', password: 'chloe-pw-7713', uidNumber: 1003, mail: ['chloe.muller@example.org'],
    telephoneNumber: '+41 44 555 0123', postalAddress: 'Bahnhofstrasse 1$8001 Zürich', description: 'Designer (contractor)' },
  { uid: 'dmitri', cn: 'Dmitri Ivanov', sn: 'Ivanov', password: 'dmitri-pw-3380', uidNumber: 1600, mail: ['dmitri@example.net'], telephoneNumber: '+7 495 555 0111' },
  { uid: 'erin', cn: "Erin O'Brien", sn: "O'Brien", password: 'erin-pw-6604', uidNumber: 1004, mail: ['erin.obrien@example.org'], telephoneNumber: '+353 1 555 0170' },
  { uid: 'frank', cn: 'Frank Osei', sn: 'Osei', password: 'frank-pw-1149', uidNumber: 1005, mail: ['frank@example.org'], description: LONG_DESCRIPTION },
];

export const personDn = (uid: string) => `uid=${uid},${PEOPLE}`;
export const person = (uid: string) => PERSONS.find((p) => p.uid === uid)!;

function personEntry(p: Person): SeedEntry {
  const a: SeedEntry['attributes'] = [
    ['objectClass', ['inetOrgPerson', 'posixAccount']],
    ['uid', [p.uid]],
    ['cn', [p.cn]],
    ['sn', [p.sn]],
    ['mail', p.mail],
  ];
  if (p.telephoneNumber) a.push(['telephoneNumber', [p.telephoneNumber]]);
  if (p.postalAddress) a.push(['postalAddress', [p.postalAddress]]);
  if (p.description) a.push(['description', [p.description]]);
  a.push(['userPassword', [p.password]], ['uidNumber', [String(p.uidNumber)]], ['gidNumber', ['1000']], ['homeDirectory', [`/home/${p.uid}`]]);
  if (p.jpegPhoto) a.push(['jpegPhoto', [p.jpegPhoto]]);
  return { dn: personDn(p.uid), attributes: a };
}

/** Every entry slapadd loads, in order. */
export const SEED: SeedEntry[] = [
  { dn: SUFFIX, attributes: [['objectClass', ['dcObject', 'organization']], ['o', ['Example']], ['dc', ['example']]] },
  { dn: PEOPLE, attributes: [['objectClass', ['organizationalUnit']], ['ou', ['people']]] },
  { dn: STAFF, attributes: [['objectClass', ['organizationalUnit']], ['ou', ['staff']]] },
  { dn: REMOTE, attributes: [['objectClass', ['referral', 'extensibleObject']], ['ou', ['remote']], ['ref', [REMOTE_URL]]] },
  ...PERSONS.map(personEntry),
  { dn: BULK, attributes: [['objectClass', ['organizationalUnit']], ['ou', ['bulk']]] },
  { dn: GROUP, attributes: [['objectClass', ['posixGroup']], ['cn', ['crowd']], ['gidNumber', ['2000']], ['memberUid', MEMBERS]] },
  ...DEVICES.map((dn): SeedEntry => ({ dn, attributes: [['objectClass', ['device']], ['cn', [/^cn=([^,]+)/.exec(dn)![1]!]]] })),
];

/** The seeded entry named `dn`. */
export const seedEntry = (dn: string) => SEED.find((e) => e.dn === dn)!;

/** LDIF (RFC 2849): a value that is not a SAFE-STRING (binary, non-ASCII, a leading space, colon or '<') is written base64. */
export function toLdif(entries: SeedEntry[]): string {
  const line = (type: string, v: string | Buffer) => {
    const b = typeof v === 'string' ? Buffer.from(v) : v;
    const safe = /^[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f][\x01-\x09\x0b\x0c\x0e-\x7f]*$/.test(b.toString('latin1'));
    return safe ? `${type}: ${b.toString('latin1')}` : `${type}:: ${b.toString('base64')}`;
  };
  return entries.map((e) => [line('dn', e.dn), ...e.attributes.flatMap(([t, vs]) => vs.map((v) => line(t, v)))].join('\n') + '\n').join('\n');
}

// ---------------------------------------------------------------------------
// The server

/** One connection in slapd's stats log: the client's port and each operation with its result. */
export interface SlapdConnection {
  conn: number;
  /** the client's port (0 until its ACCEPT line is logged) */
  rport: number;
  /** "BIND", "SRCH", "ADD", "MOD", "MODRDN", "DEL", "CMP", "EXT", "ABANDON", "UNBIND", in order */
  ops: Array<{ op: number; verb: string; text: string; err?: number; nentries?: number }>;
  closed: boolean;
}

export class Slapd extends ServerProcess {
  private constructor(
    port: number,
    dir: string,
    proc: ChildProcess,
    /** the certificate and key (PEM) StartTLS uses */
    readonly cert: { cert: string; key: string },
  ) {
    super(port, dir, proc, 'slapd');
  }

  /** Starts slapd with its own config and database in a new temp dir; resolves once it accepts connections. */
  static async start(): Promise<Slapd> {
    return inTempDir('pano-slapd-', async (dir) => {
      const port = await freePort();
      const cert = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
      execFileSync(OPENSSL, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '30',
        '-subj', `/CN=${SERVER_NAME}`, '-keyout', cert.key, '-out', cert.cert], { stdio: 'pipe' });
      const db = join(dir, 'db');
      mkdirSync(db);
      const conf = [
        ...['core', 'cosine', 'inetorgperson', 'nis'].map((s) => `include ${SCHEMA_DIR}/${s}.schema`),
        `modulepath ${MODULE_DIR}`,
        'moduleload back_mdb',
        'moduleload syncprov',
        `pidfile ${join(dir, 'slapd.pid')}`,
        `TLSCertificateFile ${cert.cert}`,
        `TLSCertificateKeyFile ${cert.key}`,
        'database mdb',
        'maxsize 10485760',
        `suffix "${SUFFIX}"`,
        `rootdn "${ADMIN.dn}"`,
        `rootpw ${ADMIN.password}`,
        `directory ${db}`,
        'access to attrs=userPassword by self write by anonymous auth by * none',
        'access to * by * read',
        'overlay syncprov',
      ];
      const file = join(dir, 'slapd.conf');
      writeFileSync(file, conf.join('\n') + '\n');
      const ldif = join(dir, 'seed.ldif');
      writeFileSync(ldif, toLdif(SEED));
      execFileSync(SLAPADD, ['-f', file, '-l', ldif], { stdio: 'pipe' });
      // setpriv (util-linux) execs slapd with a parent-death signal: a test process that dies
      // without stopping it (killed, crashed) takes it along
      const argv = [SLAPD, '-f', file, '-h', `ldap://127.0.0.1:${port}/`, '-d', '256'];
      const proc = existsSync(SETPRIV)
        ? spawn(SETPRIV, ['--pdeathsig', 'TERM', ...argv], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
        : spawn(argv[0]!, argv.slice(1), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const server = new Slapd(port, dir, proc, cert);
      await server.waitReady((log) => log.includes('slapd starting'), 400);
      // waitReady's probe (a connection opened and closed at once): once slapd has logged its
      // end, none of it can land in a capture started next
      try {
        await server.waitConnections((cs) => cs.length >= 1 && cs.every((c) => c.closed && c.rport > 0));
      } catch (e) {
        await server.stop();
        throw e;
      }
      return server;
    });
  }

  /**
   * Every connection slapd's stats log names, in the order accepted (by connection number). slapd
   * logs from several threads, so a connection's lines may come out of order (its operations and
   * its close before its ACCEPT): each is read for itself, rport 0 until the ACCEPT line is there.
   */
  connections(): SlapdConnection[] {
    const byConn = new Map<number, SlapdConnection & { byOp: Map<number, SlapdConnection['ops'][number]> }>();
    const get = (n: number) => {
      let c = byConn.get(n);
      if (!c) byConn.set(n, (c = { conn: n, rport: 0, ops: [], closed: false, byOp: new Map() }));
      return c;
    };
    for (const line of this.log.split('\n')) {
      const accept = /\bconn=(\d+) fd=\d+ ACCEPT from IP=127\.0\.0\.1:(\d+) /.exec(line);
      if (accept) {
        get(Number(accept[1])).rport = Number(accept[2]);
        continue;
      }
      const closed = /\bconn=(\d+) fd=\d+ closed/.exec(line);
      if (closed) {
        get(Number(closed[1])).closed = true;
        continue;
      }
      const m = /\bconn=(\d+) op=(\d+) (.*)$/.exec(line);
      if (!m) continue;
      const c = get(Number(m[1]));
      const op = Number(m[2]);
      const rest = m[3]!;
      let o = c.byOp.get(op);
      if (!o) c.byOp.set(op, (o = { op, verb: '', text: '' }));
      const result = /^(?:SEARCH )?RESULT .*?\berr=(\d+)(?: .*?nentries=(\d+))?/.exec(rest);
      if (result) {
        o.err = Number(result[1]);
        if (result[2] !== undefined) o.nentries = Number(result[2]);
      } else if (!o.verb) {
        // an operation's first line names it (one thread logs an operation's lines in order); later
        // lines of it (SRCH attr=, BIND mech=, WHOAMI) add to it
        o.verb = /^(\w+)/.exec(rest)![1]!;
        o.text = rest;
      }
    }
    return [...byConn.values()]
      .sort((a, b) => a.conn - b.conn)
      .map(({ byOp, ...c }) => ({ ...c, ops: [...byOp.values()].sort((a, b) => a.op - b.op) }));
  }

  /** Waits (5 s at most) until the connections slapd logged satisfy `done`; returns them. */
  async waitConnections(done: (cs: SlapdConnection[]) => boolean, timeoutMs = 5_000): Promise<SlapdConnection[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.process.exitCode !== null) throw new Error(`slapd exited: ${this.log.slice(-3000)}`);
      const cs = this.connections();
      if (done(cs)) return cs;
      if (Date.now() > deadline) throw new Error(`slapd's log did not say what was waited for: ${this.log.slice(-3000)}`);
      await sleep(20);
    }
  }
}

// ---------------------------------------------------------------------------
// The scenario's operations (what client.py is told to do)

/** The session's subtree search: &, |, !, substrings (initial, any with UTF-8, final), presence, >= and an extensible match. */
export const FILTER = "(&(objectClass=inetOrgPerson)(|(cn=Ali*)(sn=*ss*)(cn=Chlo*Mü*er)(mail=*@example.net)(cn:caseExactMatch:=Erin O'Brien))(!(uidNumber>=1500))(telephoneNumber=*))";
/** Who FILTER finds: by cn's initial, sn's any, cn's initial/any/final, and the extensible match (dmitri's mail matches, his uidNumber does not). */
export const FILTER_MATCHES = ['alice', 'bob', 'chloe', 'erin'];
export const SEARCH_ATTRIBUTES = ['cn', 'sn', 'mail', 'telephoneNumber', 'postalAddress', 'userPassword', 'jpegPhoto', 'uidNumber'];
export const SIZE_LIMIT = 2;
export const SIZE_FILTER = '(objectClass=inetOrgPerson)';
export const MISSING_BASE = `ou=nowhere,${SUFFIX}`;
/** The subtree search over the whole directory that meets REMOTE (a reference), and the search under it (a referral). */
export const REFERENCES_FILTER = '(ou=*)';
export const UNDER_REMOTE = `cn=someone,${REMOTE}`;
/** The entry the session adds, modifies, compares, moves and deletes. */
export const OSCAR = {
  dn: personDn('oscar'),
  password: 'oscar-pw-5521',
  newPassword: 'oscar-pw-6632',
};
/** An add slapd refuses: inetOrgPerson without its required sn (objectClassViolation, with a diagnostic message). */
export const BAD_ADD = { dn: personDn('nosn'), attributes: { objectClass: ['inetOrgPerson'], uid: ['nosn'], cn: ['No Surname'] } };
export const ADD_ATTRIBUTES: Record<string, string[]> = {
  objectClass: ['inetOrgPerson'],
  uid: ['oscar'],
  cn: ['Oscar Diaz'],
  sn: ['Diaz'],
  mail: ['oscar@example.org'],
  telephoneNumber: ['+1 212 555 0100'],
  description: ['temporary account'],
  userPassword: [OSCAR.password],
};
export const CHANGES = [
  { operation: 'add', type: 'mail', values: ['oscar.diaz@example.net'] },
  { operation: 'replace', type: 'telephoneNumber', values: ['+1 212 555 0199'] },
  { operation: 'delete', type: 'description', values: ['temporary account'] },
  { operation: 'replace', type: 'userPassword', values: [OSCAR.newPassword] },
];
export const COMPARES = [
  { attribute: 'mail', value: 'oscar.diaz@example.net', result: 'compareTrue' },
  { attribute: 'sn', value: 'Smith', result: 'compareFalse' },
  // a password checked by compare (as some applications do): the value is a credential
  { attribute: 'userPassword', value: OSCAR.newPassword, result: 'compareTrue' },
];
export const MODIFY_DN = { newRdn: 'uid=odiaz', deleteOldRdn: true, newSuperior: STAFF, moved: `uid=odiaz,${STAFF}` };
/** Password Modify of alice's password, the old one given. */
export const PASSWORD_MODIFY = { dn: personDn('alice'), old: person('alice').password, new: 'alice-pw-new-9931' };
/** The refreshAndPersist search abandoned. */
export const PERSIST = { base: PEOPLE, filter: '(uid=erin)', attributes: ['mail'] };
export const PAGED = { base: PEOPLE, filter: '(objectClass=posixAccount)', pageSize: 2 };
/** What the anonymous search reads of frank (the ACL hides userPassword from anonymous; his description is long). */
export const ANONYMOUS_ATTRIBUTES = ['cn', 'mail', 'description', 'userPassword'];
export const GROUP_ATTRIBUTES = ['cn', 'memberUid'];
export const BULK_FILTER = '(objectClass=device)';
/** The typesOnly search of alice: the types, no values. */
export const TYPES_ATTRIBUTES = ['cn', 'mail', 'jpegPhoto'];
/** What the TLS search reads of alice. */
export const TLS_ATTRIBUTES = ['mail', 'telephoneNumber'];
/**
 * ldapsearch's filter (libldap's encoder): an extensible match on the DN's
 * attributes, one by matching rule OID, <=, and a substring with escaped parentheses.
 */
export const LDAPSEARCH_FILTER = '(&(ou:dn:=people)(uidNumber<=1003)(|(cn:2.5.13.5:=Bob Rossi)(description=*\\28contractor\\29)))';
export const LDAPSEARCH_ATTRIBUTES = ['cn', 'description'];
export const LDAPSEARCH_MATCHES = ['bob', 'chloe'];

/** Every password the scenario sends or seeds: none may be in any event. */
export const SECRETS = [ADMIN.password, WRONG_PASSWORD, OSCAR.password, OSCAR.newPassword, PASSWORD_MODIFY.new, ...PERSONS.map((p) => p.password)];

// ---------------------------------------------------------------------------
// Transcripts: what the client sent and got back

/** A value ldap3 decoded: text, or bytes as base64; a password as its size. */
export type WireValue = string | { b64: string } | { size: number };

/** One LDAP message client.py sent or received (ldap3's name of the operation, what ldap3 decoded of it). */
export type LdapItem =
  | { from: 'client'; id: number; op: string; controls: string[]; tls: boolean; request: Record<string, any> }
  | { from: 'server'; id: number; op: string; controls: string[]; tls: boolean; response: Record<string, any> };

/** A value as the contract gives it (pano-events(5), ldap): see contractValue. */
export type EventValue = string | { size: number; base64?: string; text?: string; truncated?: true };

/** Credential attributes, whose values the events measure only (the contract's list, those a directory here has). */
export const isSecretAttribute = (type: string) => /^(userPassword|unicodePwd|authPassword)(;.*)?$/i.test(type);

/**
 * "UTF-8 text" (the contract), read as UTF-8 without control characters but tab, CR and LF; no
 * value of the scenario has a control character, so that reading is not what is tested here.
 */
function isText(b: Buffer): boolean {
  if (!isUtf8(b)) return false;
  for (const c of b) if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return false;
  return true;
}

/**
 * A value of attribute `type` as an event gives it: a credential's by size; text as is up to
 * 4096 bytes, past that its size and first 4096 bytes (truncated); binary by size, with its
 * base64 when at most 256 bytes.
 */
export function contractValue(type: string, b: Buffer): EventValue {
  if (isSecretAttribute(type)) return { size: b.length };
  if (isText(b)) return b.length <= 4096 ? b.toString('utf8') : { size: b.length, text: b.subarray(0, 4096).toString('utf8'), truncated: true };
  return b.length <= 256 ? { size: b.length, base64: b.toString('base64') } : { size: b.length };
}

export const wireBytes = (v: WireValue): Buffer => (typeof v === 'string' ? Buffer.from(v) : 'b64' in v ? Buffer.from(v.b64, 'base64') : Buffer.alloc(0));

/** ldap3's protocolOp names, as the contract names the operations. */
const OPERATIONS: Record<string, string> = {
  bindRequest: 'bind', unbindRequest: 'unbind', searchRequest: 'search', modifyRequest: 'modify', addRequest: 'add',
  delRequest: 'delete', modDNRequest: 'modify_dn', compareRequest: 'compare', abandonRequest: 'abandon', extendedReq: 'extended',
};
const FINAL = new Set(['bindResponse', 'searchResDone', 'modifyResponse', 'addResponse', 'delResponse', 'modDNResponse', 'compareResponse', 'extendedResp']);
const SCOPE = ['base', 'one', 'sub', 'children'];
const DEREF = ['never', 'searching', 'finding', 'always'];
const MODIFY_OPS = ['add', 'delete', 'replace', 'increment'];

/**
 * The names the test expects for the OIDs the scenario uses (RFC 4511's
 * StartTLS, RFC 4532's Who am I?, RFC 3062's Password Modify, RFC 2696's
 * Paged Results, RFC 4533's Sync Request and its Sync State control).
 */
export const OID_NAMES: Record<string, string> = {
  '1.3.6.1.4.1.1466.20037': 'StartTLS',
  '1.3.6.1.4.1.4203.1.11.3': 'Who am I?',
  '1.3.6.1.4.1.4203.1.11.1': 'Password Modify',
  '1.2.840.113556.1.4.319': 'Paged Results',
  '1.3.6.1.4.1.4203.1.9.1.1': 'Sync Request',
};
const named = (oid: string) => (OID_NAMES[oid] ? { oid, name: OID_NAMES[oid] } : { oid });

/** Result codes that are answers, not failures (the contract's list). */
const NOT_ERRORS = new Set(['success', 'compareTrue', 'compareFalse', 'referral', 'saslBindInProgress']);

/** What one LDAP event of a connection must hold, in order (the ldap group, error.type, kind, flags, TLS). */
export interface ExpectedLdap {
  kind: 'exchange' | 'message' | 'unanswered';
  ldap: Record<string, any>;
  error?: { type: string };
  /** flags the contract gives (abandoned; truncated where entries or values past the limits were left out or a text value was cut) */
  flags: string[];
  /** sent inside TLS */
  tls: boolean;
}

/**
 * The LDAP events a connection's transcript must give, in the order the
 * requests were sent (an event starts at its request): each request with what
 * ldap3 sent of it; an exchange ended by the final response with its id, the
 * entries before it gathered; Unbind and Abandon messages; a request an
 * Abandon named, with no final response, unanswered and flagged abandoned.
 */
export function expectedFromTranscript(items: LdapItem[]): ExpectedLdap[] {
  const out: ExpectedLdap[] = [];
  const cut = (x: ExpectedLdap) => {
    if (!x.flags.includes('truncated')) x.flags.push('truncated');
  };
  /** A search's entries as kept (the first MAX_ENTRIES) and their count. */
  const gathered = (x: ExpectedLdap, list: Array<{ dn: string; attributes: Record<string, EventValue[]> }>) => {
    x.ldap.entries = list.slice(0, MAX_ENTRIES);
    x.ldap.entry_count = list.length;
    if (list.length > MAX_ENTRIES) cut(x);
  };
  const byId = new Map<number, ExpectedLdap>();
  const entries = new Map<number, Array<{ dn: string; attributes: Record<string, EventValue[]> }>>();
  for (const item of items) {
    if (item.from === 'client') {
      const operation = OPERATIONS[item.op];
      if (!operation) throw new Error(`unknown request ${item.op}`);
      const ldap: Record<string, any> = { message_id: item.id, operation };
      const r = item.request;
      switch (operation) {
        case 'bind': {
          const simple = r.authentication?.simple as { size: number } | undefined;
          ldap.bind = { version: r.version, name: r.name, method: simple ? 'simple' : 'sasl', ...(simple?.size === 0 ? { anonymous: true } : {}) };
          break;
        }
        case 'search':
          ldap.search = {
            base: r.base, scope: SCOPE[r.scope], deref: DEREF[r.dereferenceAlias], size_limit: r.sizeLimit, time_limit: r.timeLimit,
            // the text client.py gave ldap3 (ldap3's own rendering of what it sent is not RFC 4515: it
            // writes a '*' twice after a substring's any part)
            types_only: r.typesOnly, filter: r.filter, attributes: r.attributes,
          };
          break;
        case 'add':
          ldap.dn = r.entry;
          ldap.attributes = Object.fromEntries(Object.entries(r.attributes as Record<string, WireValue[]>).map(([t, vs]) => [t, vs.map((v) => contractValue(t, wireBytes(v)))]));
          break;
        case 'modify':
          ldap.dn = r.entry;
          ldap.changes = (r.changes as Array<{ operation: number; attribute: { type: string; value: WireValue[] } }>).map((c) => ({
            operation: MODIFY_OPS[c.operation], type: c.attribute.type, values: c.attribute.value.map((v) => contractValue(c.attribute.type, wireBytes(v))),
          }));
          break;
        case 'delete':
          ldap.dn = r.entry;
          break;
        case 'modify_dn':
          ldap.dn = r.entry;
          ldap.modify_dn = { new_rdn: r.newRdn, delete_old_rdn: r.deleteOldRdn, ...(r.newSuperior ? { new_superior: r.newSuperior } : {}) };
          break;
        case 'compare':
          ldap.dn = r.entry;
          ldap.compare = { attribute: r.attribute, value: contractValue(r.attribute, wireBytes(r.value)) };
          break;
        case 'extended':
          ldap.extended = { ...named(r.name), ...(r.value == null ? {} : { value: 'size' in r.value ? r.value : contractValue('', wireBytes(r.value)) }) };
          break;
        case 'abandon':
          ldap.abandon_id = Number(r.messageId);
          break;
      }
      if (item.controls.length) ldap.controls = item.controls.map(named);
      const x: ExpectedLdap = { kind: operation === 'unbind' || operation === 'abandon' ? 'message' : 'unanswered', ldap, flags: [], tls: item.tls };
      out.push(x);
      if (x.kind !== 'message') byId.set(item.id, x);
      if (operation === 'search') entries.set(item.id, []);
      if (operation === 'abandon') {
        const gone = byId.get(ldap.abandon_id);
        if (gone) {
          byId.delete(ldap.abandon_id);
          gone.flags.unshift('abandoned');
          const list = entries.get(ldap.abandon_id);
          if (list?.length) gathered(gone, list);
        }
      }
      continue;
    }
    const x = byId.get(item.id);
    if (!x) throw new Error(`a response no request waits for: ${item.op} ${item.id}`);
    const r = item.response;
    if (item.op === 'searchResEntry') {
      const attributes: Record<string, EventValue[]> = {};
      // a typesOnly search's attributes have no values (ldap3: null)
      for (const [t, vs] of Object.entries(r.raw_attributes as Record<string, WireValue[] | null>).map(([t, vs]) => [t, vs ?? []] as const)) {
        // the first MAX_VALUES values of each attribute
        attributes[t] = vs.slice(0, MAX_VALUES).map((v) => contractValue(t, wireBytes(v)));
        if (vs.length > MAX_VALUES) cut(x);
        // a text value past 4096 bytes was cut: the event says so
        if (attributes[t].some((v) => typeof v === 'object' && v.truncated)) cut(x);
      }
      entries.get(item.id)!.push({ dn: wireBytes(r.raw_dn).toString('utf8'), attributes });
      continue;
    }
    if (item.op === 'searchResRef') {
      (x.ldap.references ??= []).push(...(r.uri as string[]));
      continue;
    }
    if (!FINAL.has(item.op)) continue;
    byId.delete(item.id);
    x.kind = 'exchange';
    if (x.ldap.operation === 'search') gathered(x, entries.get(item.id)!);
    const response: Record<string, any> = { result_code: r.result, result: r.description };
    if (r.dn) response.matched_dn = r.dn;
    if (r.message) response.diagnostic_message = r.message;
    if (r.referrals?.length) response.referrals = r.referrals;
    if (item.op === 'extendedResp') {
      if (r.responseName) Object.assign(response, { name: r.responseName, ...(OID_NAMES[r.responseName] ? { name_text: OID_NAMES[r.responseName] } : {}) });
      const v = wireBytes(r.responseValue);
      if (v.length) response.value = contractValue('', v);
    }
    if (item.controls.length) response.controls = item.controls.map(named);
    x.ldap.response = response;
    if (!NOT_ERRORS.has(r.description)) x.error = { type: r.description };
  }
  return out;
}

// ---------------------------------------------------------------------------
// The client traffic of the LDAP live and oracle tests

export type LdapMode = 'session' | 'refused' | 'paged' | 'limits' | 'starttls';

export interface LdapRun {
  name: LdapMode;
  result: ClientResult;
  transcript: LdapItem[];
  /** the client's port */
  port: number;
  /** what client.py printed */
  py: Record<string, any>;
}

/** The ldapsearch run: its output (LDIF) read into entries, and its port from slapd's log (the connection no client.py run made). */
export interface LdapsearchRun {
  port: number;
  entries: Array<{ dn: string; attributes: Record<string, Buffer[]> }>;
}

export interface LdapScenarioResult {
  port: number;
  /** one connection each, in the order they ran */
  runs: LdapRun[];
  ldapsearch: LdapsearchRun;
  /** every connection slapd logged during the scenario, in order */
  connections: SlapdConnection[];
  /** the TLS key log of the StartTLS session (NSS format) */
  keylog: string;
}

/** The modes ldapScenario runs, in order (see client.py). */
export const LDAP_MODES: LdapMode[] = ['session', 'refused', 'paged', 'limits', 'starttls'];

/** What client.py is told in `mode`. */
function modeConfig(server: Slapd, mode: LdapMode, keylog: string): Record<string, unknown> {
  const admin = ADMIN;
  switch (mode) {
    case 'session':
      return {
        admin, base: PEOPLE, filter: FILTER, attributes: SEARCH_ATTRIBUTES, sizeFilter: SIZE_FILTER, sizeLimit: SIZE_LIMIT, missingBase: MISSING_BASE,
        suffix: SUFFIX, referencesFilter: REFERENCES_FILTER, underRemote: UNDER_REMOTE, badAdd: BAD_ADD,
        add: { dn: OSCAR.dn, attributes: ADD_ATTRIBUTES }, changes: CHANGES, compares: COMPARES, modifyDn: MODIFY_DN,
        passwordModify: PASSWORD_MODIFY, persist: PERSIST,
      };
    case 'refused':
      return { admin, wrong: WRONG_PASSWORD, entry: personDn('frank'), attributes: ANONYMOUS_ATTRIBUTES };
    case 'paged':
      return { admin, ...PAGED };
    case 'limits':
      return { admin, group: GROUP, groupAttributes: GROUP_ATTRIBUTES, bulk: BULK, bulkFilter: BULK_FILTER, entry: personDn('alice'), typesAttributes: TYPES_ATTRIBUTES };
    case 'starttls':
      return { admin, cafile: server.cert.cert, serverName: SERVER_NAME, keylog, entry: personDn('alice'), attributes: TLS_ATTRIBUTES };
  }
}

/** Runs client.py in `mode` against `server`. */
export async function runLdapClient(server: Slapd, mode: LdapMode, keylog: string): Promise<LdapRun> {
  const result = await runClient(PYTHON, [LDAP_CLIENT, mode, String(server.port), JSON.stringify(modeConfig(server, mode, keylog))], 20_000, server.dir);
  if (result.code !== 0) throw new Error(`client.py ${mode}: exit ${result.code}${result.timedOut ? ' (timed out)' : ''}: ${result.stderr.trim()}\n${result.stdout.slice(-2000)}\n${server.log.slice(-2000)}`);
  const py = JSON.parse(result.stdout) as Record<string, any>;
  return { name: mode, result, transcript: py.log, port: py.port, py };
}

/** LDIF as ldapsearch -LLL -o ldif-wrap=no writes it: entries, each "type: value" or "type:: base64" a line. */
export function readLdif(text: string): Array<{ dn: string; attributes: Record<string, Buffer[]> }> {
  const out: Array<{ dn: string; attributes: Record<string, Buffer[]> }> = [];
  for (const block of text.split(/\n\n+/)) {
    const lines = block.split('\n').filter((l) => l && !l.startsWith('#'));
    if (!lines.length) continue;
    const pairs = lines.map((l) => {
      const m = /^([^:]+)(::?) ?(.*)$/.exec(l)!;
      return [m[1]!, m[2] === '::' ? Buffer.from(m[3]!, 'base64') : Buffer.from(m[3]!)] as const;
    });
    const [first, ...rest] = pairs;
    if (first![0] !== 'dn') throw new Error(`LDIF entry without dn: ${block}`);
    const attributes: Record<string, Buffer[]> = {};
    for (const [t, v] of rest) (attributes[t] ??= []).push(v);
    out.push({ dn: first![1].toString('utf8'), attributes });
  }
  return out;
}

/** ldapsearch (ldap-utils, libldap's encoder) of LDAPSEARCH_FILTER under PEOPLE as the admin: bind, search, unbind. */
async function runLdapsearch(server: Slapd): Promise<LdapsearchRun['entries']> {
  const args = ['-x', '-H', `ldap://127.0.0.1:${server.port}/`, '-D', ADMIN.dn, '-w', ADMIN.password, '-b', PEOPLE, '-s', 'sub', '-LLL', '-o', 'ldif-wrap=no', LDAPSEARCH_FILTER, ...LDAPSEARCH_ATTRIBUTES];
  const result = await runClient(LDAPSEARCH, args, 20_000, server.dir);
  if (result.code !== 0) throw new Error(`ldapsearch: exit ${result.code}: ${result.stderr.trim()}\n${server.log.slice(-2000)}`);
  return readLdif(result.stdout);
}

/**
 * Drives the traffic of the live and oracle tests against `server`, one
 * connection at a time, while the caller captures (client.py's modes, in
 * order, then ldapsearch):
 *  (1) session: bind as the admin, the FILTER search, a search hitting its
 *      size limit, a search of MISSING_BASE, a search meeting REMOTE (a
 *      reference) and one under it (a referral), BAD_ADD refused, add,
 *      modify, COMPARES (true, false, a password), modify DN, delete, Who am
 *      I?, Password Modify, a persistent search abandoned, a bind as alice
 *      with her new password, Who am I?, unbind;
 *  (2) refused: the admin refused (invalidCredentials), an anonymous bind, a
 *      base search of frank (his long description; no userPassword), unbind;
 *  (3) paged: bind, PAGED page by page with the Paged Results control, unbind;
 *  (4) limits: without a bind, a base search of GROUP (MANY memberUid values),
 *      a one-level search of BULK (MANY entries), a typesOnly search, unbind;
 *  (5) starttls: StartTLS (TLS 1.3, key log written), then inside TLS bind,
 *      a base search of alice, Who am I?, unbind;
 *  (6) ldapsearch: bind, the LDAPSEARCH_FILTER search, unbind.
 * Returns once slapd has logged the end of every connection.
 */
export async function ldapScenario(server: Slapd, modes: LdapMode[] = LDAP_MODES): Promise<LdapScenarioResult> {
  const keylog = join(server.dir, 'keys.log');
  const before = server.connections().length;
  const runs: LdapRun[] = [];
  for (const mode of modes) runs.push(await runLdapClient(server, mode, keylog));
  const entries = await runLdapsearch(server);
  const all = await server.waitConnections((cs) => cs.length >= before + runs.length + 1 && cs.slice(before).every((c) => c.closed && c.rport > 0));
  const connections = all.slice(before);
  const others = connections.filter((c) => !runs.some((r) => r.port === c.rport));
  if (connections.length !== runs.length + 1 || others.length !== 1) throw new Error(`slapd logged connections from ports ${connections.map((c) => c.rport)}, the client.py runs' are ${runs.map((r) => r.port)}`);
  return { port: server.port, runs, ldapsearch: { port: others[0]!.rport, entries }, connections, keylog };
}

// ---------------------------------------------------------------------------
// The typed view of an LDAP event the live and oracle tests read

export interface LdapFields {
  client: { port: number };
  server: { port: number };
  network: { protocol: { name: string } };
  ldap: {
    message_id: number;
    operation?: string;
    bind?: { version: number; name: string; method: string; mechanism?: string; anonymous?: true };
    search?: { base: string; scope: string; deref: string; size_limit: number; time_limit: number; types_only: boolean; filter: string; attributes: string[] };
    dn?: string;
    attributes?: Record<string, EventValue[]>;
    changes?: Array<{ operation: string; type: string; values: EventValue[] }>;
    modify_dn?: { new_rdn: string; delete_old_rdn: boolean; new_superior?: string };
    compare?: { attribute: string; value: EventValue };
    extended?: { oid: string; name?: string; value?: EventValue };
    abandon_id?: number;
    controls?: Array<{ oid: string; name?: string }>;
    entries?: Array<{ dn: string; attributes: Record<string, EventValue[]> }>;
    entry_count?: number;
    references?: string[];
    response?: {
      result_code: number;
      result: string;
      matched_dn?: string;
      diagnostic_message?: string;
      referrals?: string[];
      name?: string;
      name_text?: string;
      value?: EventValue;
      controls?: Array<{ oid: string; name?: string }>;
    };
  };
  tls?: { decrypted?: boolean };
  error?: { type: string };
}

export type LdapEvent = PanoEvent & LdapFields;
