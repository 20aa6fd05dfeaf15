/**
 * Schemas from `--proto DIR_OR_FILE`: every .proto file found is loaded with
 * protobufjs into one root, and a gRPC `:path` (`/pkg.Service/Method`) finds
 * the request and response message types there.
 */
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import type protobuf from 'protobufjs';

// Loaded on the first --proto only: most runs never need it, and every
// pano-parse (and each of its workers) would pay for it at start-up.
const require = createRequire(import.meta.url);
let protobufjs: typeof protobuf | undefined;
function pb(): typeof protobuf {
  return (protobufjs ??= require('protobufjs') as typeof protobuf);
}

export interface MethodTypes {
  request: protobuf.Type;
  response: protobuf.Type;
}

export class ProtoSchemas {
  private readonly methods = new Map<string, MethodTypes | null>();

  constructor(private readonly root: protobuf.Root) {}

  /** Types for a `:path`, or undefined when the schemas do not define that method. */
  method(path: string): MethodTypes | undefined {
    let m = this.methods.get(path);
    if (m === undefined) {
      m = this.resolve(path);
      this.methods.set(path, m);
    }
    return m ?? undefined;
  }

  private resolve(path: string): MethodTypes | null {
    const slash = path.lastIndexOf('/');
    if (slash <= 1) return null;
    const service = this.root.lookup(path.slice(1, slash));
    if (!(service instanceof pb().Service)) return null;
    const method = service.methods[path.slice(slash + 1)];
    if (!method) return null;
    method.resolve();
    if (!method.resolvedRequestType || !method.resolvedResponseType) return null;
    return { request: method.resolvedRequestType, response: method.resolvedResponseType };
  }
}

function collectProtoFiles(path: string, out: string[], depth = 0): void {
  const st = statSync(path);
  if (st.isFile()) {
    out.push(path);
    return;
  }
  if (depth > 16) return;
  for (const name of readdirSync(path).sort()) {
    const p = join(path, name);
    const s = statSync(p);
    if (s.isDirectory()) collectProtoFiles(p, out, depth + 1);
    else if (name.endsWith('.proto')) out.push(p);
  }
}

const cache = new Map<string, ProtoSchemas>();

/**
 * Loads the schemas under the given files or directories. Imports resolve
 * against the directories given (and the importing file's own directory).
 * Throws an Error with a one-line message naming the file when a schema does not parse.
 */
export function loadProtoSchemas(paths: readonly string[]): ProtoSchemas {
  const key = paths.join('\0');
  const hit = cache.get(key);
  if (hit) return hit;
  const files: string[] = [];
  const includeDirs: string[] = [];
  for (const p of paths) {
    const abs = resolve(p);
    let st;
    try {
      st = statSync(abs);
    } catch {
      throw new Error(`--proto ${p}: no such file or directory`);
    }
    includeDirs.push(st.isDirectory() ? abs : dirname(abs));
    collectProtoFiles(abs, files);
  }
  if (files.length === 0) throw new Error(`--proto ${paths.join(', ')}: no .proto files found`);
  const root = new (pb().Root)();
  root.resolvePath = (origin, target) => {
    if (target.startsWith('/')) return target;
    for (const dir of [origin ? dirname(origin) : '', ...includeDirs]) {
      if (!dir) continue;
      const candidate = join(dir, target);
      try {
        if (statSync(candidate).isFile()) return candidate;
      } catch {
        // try the next include directory
      }
    }
    // protobufjs knows google/protobuf/*.proto itself; any other miss is reported by load
    return target;
  };
  for (const f of files) {
    try {
      root.loadSync(f, { keepCase: true });
    } catch (err) {
      throw new Error(`--proto ${f}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  root.resolveAll();
  const schemas = new ProtoSchemas(root);
  cache.set(key, schemas);
  return schemas;
}
