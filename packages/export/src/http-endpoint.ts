/**
 * The HTTP side of `--prometheus`: `/metrics`, `/healthz`, `/readyz` (ready
 * once input is flowing), `/debug/state`. Binds loopback unless told
 * otherwise; with a bearer token every path but /healthz needs it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface EndpointOptions {
  host: string;
  port: number;
  token?: string;
  registry: Registry;
  ready(): boolean;
  state(): unknown;
}

/** `9464`, `:9464`, `0.0.0.0:9464`, `[::1]:9464` → host and port; loopback when no host is given. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):)?(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new Error(`invalid listen address "${text}" (use e.g. 127.0.0.1:9464, :9464 or [::1]:9464)`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/** `Bearer TOKEN`, the scheme in any case (RFC 9110 11.1: auth schemes are case-insensitive); the token compared in constant time. */
function tokenMatches(req: IncomingMessage, token: string): boolean {
  const m = /^bearer +(.*)$/i.exec(req.headers.authorization ?? '');
  const given = Buffer.from(m ? m[1]!.trim() : '');
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export class MetricsEndpoint {
  private server?: Server;
  requests = 0;
  unauthorized = 0;

  constructor(private readonly opts: EndpointOptions) {}

  async listen(): Promise<AddressInfo> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`${(err as Error).message}\n`);
      });
    });
    server.keepAliveTimeout = 5_000;
    server.maxConnections = 64;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server.address() as AddressInfo;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.requests++;
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (this.opts.token !== undefined && !tokenMatches(req, this.opts.token)) {
      this.unauthorized++;
      res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('unauthorized\n');
      return;
    }
    switch (path) {
      case '/metrics': {
        const body = await this.opts.registry.metrics();
        res.writeHead(200, { 'content-type': this.opts.registry.contentType }).end(body);
        return;
      }
      case '/readyz': {
        const ready = this.opts.ready();
        res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'waiting for input\n');
        return;
      }
      case '/debug/state':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.opts.state(), null, 2) + '\n');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }
}
