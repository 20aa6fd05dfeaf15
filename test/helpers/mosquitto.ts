/**
 * A throwaway mosquitto broker on a free loopback port for tests driving it
 * with the real mosquitto clients, and the client traffic the MQTT live and
 * oracle tests share (one scenario per protocol version, see mqttScenario).
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort } from './loopback-capture.js';
import { runClient, type ClientResult } from './client-process.js';
import { inTempDir, ServerProcess } from './server-process.js';

export type { ClientResult };

export const MOSQUITTO = '/usr/sbin/mosquitto';
export const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
export const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
export const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd';

/** The binaries an MQTT live test needs that are not installed (tcpdump and tshark included). */
export function mosquittoMissing(): string[] {
  const missing = [MOSQUITTO, MOSQUITTO_PUB, MOSQUITTO_SUB, MOSQUITTO_PASSWD].filter((p) => !existsSync(p));
  if (!existsSync('/usr/bin/tcpdump') && !existsSync('/usr/sbin/tcpdump')) missing.push('tcpdump');
  return missing;
}

export interface BrokerOptions {
  /** Clients that give no user name may connect (default true). */
  allowAnonymous?: boolean;
  /** user → password, written with `mosquitto_passwd -b -c` and given as password_file. */
  users?: Record<string, string>;
  /** The listener speaks TLS with this certificate and key (PEM files). */
  tls?: { certfile: string; keyfile: string };
  /** A second listener for MQTT over WebSockets (`wsPort`). */
  websockets?: boolean;
}

/** Runs mosquitto_pub or mosquitto_sub with `args`, killed after `timeoutMs`. */
export function runMosquittoClient(tool: 'mosquitto_pub' | 'mosquitto_sub', args: string[], timeoutMs = 10_000): Promise<ClientResult> {
  return runClient(tool === 'mosquitto_pub' ? MOSQUITTO_PUB : MOSQUITTO_SUB, args, timeoutMs);
}

export class Mosquitto extends ServerProcess {
  /** The MQTT over WebSockets listener's port (BrokerOptions.websockets), else 0. */
  wsPort = 0;

  private constructor(port: number, dir: string, proc: ChildProcess) {
    super(port, dir, proc, 'mosquitto');
  }

  /**
   * Starts mosquitto with its own config in a new temp dir: one listener on a
   * free port of 127.0.0.1, no persistence, every log type to stderr (read by
   * waitLog), `user root` so that a broker started as root does not drop to
   * the mosquitto user and lose access to its 0700 temp dir. Resolves once it
   * accepts connections.
   */
  static async start(opts: BrokerOptions = {}): Promise<Mosquitto> {
    return inTempDir('pano-mqtt-', async (dir) => {
      const port = await freePort();
      const conf = [
        `listener ${port} 127.0.0.1`,
        `allow_anonymous ${opts.allowAnonymous ?? true}`,
        'persistence false',
        'log_dest stderr',
        'log_type all',
        'user root',
      ];
      if (opts.tls) conf.push(`certfile ${opts.tls.certfile}`, `keyfile ${opts.tls.keyfile}`);
      // mosquitto 2.0.11 will not start with a websockets listener alone, and its libwebsockets binds
      // every interface unless the listener is limited to IPv4 as well as to the address
      const wsPort = opts.websockets ? await freePort() : 0;
      if (wsPort) conf.push(`listener ${wsPort} 127.0.0.1`, 'socket_domain ipv4', 'protocol websockets');
      const users = Object.entries(opts.users ?? {});
      if (users.length) {
        const pw = join(dir, 'passwd');
        users.forEach(([u, p], i) => execFileSync(MOSQUITTO_PASSWD, ['-b', ...(i === 0 ? ['-c'] : []), pw, u, p], { stdio: 'pipe' }));
        conf.push(`password_file ${pw}`);
      }
      const file = join(dir, 'mosquitto.conf');
      writeFileSync(file, conf.join('\n') + '\n');
      const proc = spawn(MOSQUITTO, ['-c', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      const broker = new Mosquitto(port, dir, proc);
      broker.wsPort = wsPort;
      await broker.waitReady((log) => /mosquitto version \S+ running/.test(log));
      return broker;
    });
  }

  /**
   * Waits until the broker's log, from offset `from` on, contains `what`;
   * resolves with the offset just past it. Throws after `timeoutMs`.
   */
  async waitLog(what: string | RegExp, from = 0, timeoutMs = 5_000): Promise<number> {
    return this.untilLogged(what, from, timeoutMs);
  }

  /** mosquitto_pub against this broker (`-h 127.0.0.1 -p <port>` prepended). */
  pub(args: string[], timeoutMs?: number): Promise<ClientResult> {
    return runMosquittoClient('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(this.port), ...args], timeoutMs);
  }

  /** mosquitto_sub against this broker (`-h 127.0.0.1 -p <port>` prepended). */
  sub(args: string[], timeoutMs?: number): Promise<ClientResult> {
    return runMosquittoClient('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(this.port), ...args], timeoutMs);
  }


}

// ---------------------------------------------------------------------------
// The client traffic of the MQTT live and oracle tests

export type MqttVersion = 'mqttv31' | 'mqttv311' | 'mqttv5';

/** The broker the scenario expects: anonymous clients allowed, alice known by her password. */
export const SCENARIO_USER = 'alice';
export const SCENARIO_PASSWORD = 's3cret';
export const SCENARIO_WRONG_PASSWORD = 'wr0ngpass';
export const SCENARIO_BROKER: BrokerOptions = { allowAnonymous: true, users: { [SCENARIO_USER]: SCENARIO_PASSWORD } };

export interface ScenarioPublish {
  topic: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  payload: Buffer;
  /** the -D publish properties given (v5) */
  properties?: Array<[string, string, ...string[]]>;
}

/** What a delivery looked like to mosquitto_sub (its -F output). */
export interface ScenarioDelivery {
  topic: string;
  qos: number;
  retain: boolean;
  size: number;
}

export interface ScenarioResult {
  version: MqttVersion;
  /** "3.1", "3.1.1" or "5.0" */
  protocolVersion: string;
  /** topic prefix of this scenario: pano/<version> */
  base: string;
  /** the subscriber's filters, in its SUBSCRIBE; `unsubscribed` is dropped again at once */
  filters: string[];
  unsubscribed: string;
  subscribeQos: number;
  /** what pubclient published, in order */
  publishes: ScenarioPublish[];
  /** what subclient received, in order */
  delivered: ScenarioDelivery[];
  /** what latesub received (the retained message) */
  late: ScenarioDelivery[];
  /** latesub's will (never published: it disconnects cleanly) */
  will: { topic: string; qos: number; retain: boolean; payload: Buffer };
  /** the refused login's mosquitto_pub run */
  refused: ClientResult;
}

/** The ~200 KB text message: bigger than the parser's 64 KiB body limit, not one repeated byte. */
export function bigPayload(): Buffer {
  let s = '';
  for (let i = 0; s.length < 200_000; i++) s += `line ${String(i).padStart(6, '0')} of the big MQTT message\n`;
  return Buffer.from(s.slice(0, 200_000));
}

const FORMAT = '%t %q %r %l';

function deliveries(out: string): ScenarioDelivery[] {
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [topic, qos, retain, size] = l.split(' ');
      return { topic: topic!, qos: Number(qos), retain: retain === '1', size: Number(size) };
    });
}

function check(r: ClientResult, what: string): void {
  if (r.code !== 0) throw new Error(`${what}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr.trim()}`);
}

/**
 * Drives one protocol version's traffic against `broker` (started with
 * SCENARIO_BROKER), while the caller captures:
 *  - subclient (anonymous) subscribes to pano/<v>/# and pano/<v>/gone at QoS 1
 *    in one SUBSCRIBE, unsubscribes pano/<v>/gone, and exits after receiving
 *    every publish below (-C);
 *  - pubclient (alice, with her password), one connection per message:
 *    QoS 0 text, QoS 1 JSON with an e-mail address, QoS 2 text, a retained
 *    QoS 1 message; with v5 a QoS 1 publish with properties; except with 3.1
 *    (run once, reduced) a ~200 KB QoS 1 message from a file;
 *  - latesub, with a will, subscribes to the retained topic afterwards and
 *    gets it, retain set;
 *  - badclient gives alice a wrong password: CONNACK refusal.
 * Every step waits for the broker to log that it is over (SUBACK/UNSUBACK
 * sent, the client's disconnect), so the order of connections is fixed.
 */
export async function mqttScenario(broker: Mosquitto, version: MqttVersion): Promise<ScenarioResult> {
  const tag = version.slice(4);
  const base = `pano/${tag}`;
  const V = ['-V', version];
  const big = bigPayload();
  const publishes: ScenarioPublish[] = [
    { topic: `${base}/q0`, qos: 0, retain: false, payload: Buffer.from(`hello qos0 ${tag}`) },
    { topic: `${base}/q1`, qos: 1, retain: false, payload: Buffer.from(JSON.stringify({ user: 'bob', email: 'bob@example.com', version: tag })) },
    { topic: `${base}/q2`, qos: 2, retain: false, payload: Buffer.from(`hello qos2 ${tag}`) },
    { topic: `${base}/retained`, qos: 1, retain: true, payload: Buffer.from(`retained state ${tag}`) },
  ];
  if (version === 'mqttv5') {
    publishes.push({
      topic: `${base}/props`,
      qos: 1,
      retain: false,
      payload: Buffer.from('{"temperature":21.5}'),
      properties: [
        ['publish', 'content-type', 'application/json'],
        ['publish', 'user-property', 'k', 'v'],
        ['publish', 'correlation-data', 'abc'],
        ['publish', 'response-topic', 'rt'],
      ],
    });
  }
  if (version !== 'mqttv31') publishes.push({ topic: `${base}/big`, qos: 1, retain: false, payload: big });
  const bigFile = join(broker.dir, `big-${tag}.txt`);
  writeFileSync(bigFile, big);

  const filters = [`${base}/#`, `${base}/gone`];
  const unsubscribed = `${base}/gone`;
  let mark = broker.log.length;
  const sub = broker.sub([...V, '-i', 'subclient', '-q', '1', ...filters.flatMap((t) => ['-t', t]), '-U', unsubscribed, '-C', String(publishes.length), '-F', FORMAT], 15_000);
  // mosquitto_sub sends SUBSCRIBE then UNSUBSCRIBE on connect; the broker answers in order
  await broker.waitLog('Sending UNSUBACK to subclient', mark);

  for (const p of publishes) {
    mark = broker.log.length;
    const args = [...V, '-i', 'pubclient', '-u', SCENARIO_USER, '-P', SCENARIO_PASSWORD, '-t', p.topic, '-q', String(p.qos)];
    if (p.retain) args.push('-r');
    for (const prop of p.properties ?? []) args.push('-D', ...prop);
    if (p.payload === big) args.push('-f', bigFile);
    else args.push('-m', p.payload.toString('utf8'));
    check(await broker.pub(args), `mosquitto_pub ${p.topic}`);
    // the next pubclient must not take this one's session over before it is gone
    await broker.waitLog('Client pubclient disconnected', mark);
  }
  const subRun = await sub;
  check(subRun, 'mosquitto_sub');
  await broker.waitLog('Client subclient disconnected', mark);

  mark = broker.log.length;
  const will = { topic: `${base}/will`, qos: 1, retain: false, payload: Buffer.from(`latesub went away ${tag}`) };
  const late = await broker.sub([...V, '-i', 'latesub', '-q', '1', '-t', `${base}/retained`, '-C', '1', '-F', FORMAT,
    '--will-topic', will.topic, '--will-payload', will.payload.toString(), '--will-qos', String(will.qos)]);
  check(late, 'mosquitto_sub latesub');
  await broker.waitLog('Client latesub disconnected', mark);

  mark = broker.log.length;
  const refused = await broker.pub([...V, '-i', 'badclient', '-u', SCENARIO_USER, '-P', SCENARIO_WRONG_PASSWORD, '-t', `${base}/refused`, '-m', 'never sent']);
  if (refused.code === 0) throw new Error('the broker accepted a wrong password');
  await broker.waitLog(/Sending CONNACK to \S+ \(0, \d+\)/, mark);

  return {
    version,
    protocolVersion: { mqttv31: '3.1', mqttv311: '3.1.1', mqttv5: '5.0' }[version],
    base,
    filters,
    unsubscribed,
    subscribeQos: 1,
    publishes,
    delivered: deliveries(subRun.stdout),
    late: deliveries(late.stdout),
    will,
    refused,
  };
}
