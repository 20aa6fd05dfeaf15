/**
 * A @grpc/grpc-js server that fails a call with rich error details
 * (grpc-status-details-bin: a google.rpc.Status encoded by protobufjs, with
 * an ErrorInfo and a BadRequest) and binary metadata (`x-trace-bin` in the
 * trailers, `x-session-bin` in the response head; the client sends
 * `x-req-bin`), captured on loopback and parsed: the events, and what each
 * side sent and got, for tests to compare.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import { LoopbackCapture } from './loopback-capture.js';
import { parseCaptureSync } from './parse.js';
import type { PanoEvent } from '@panopticon/events';

/** google/rpc/status.proto and error_details.proto, the messages used here. */
export const RPC_PROTO = `syntax = "proto3";
package google.rpc;
import "google/protobuf/any.proto";
message Status { int32 code = 1; string message = 2; repeated google.protobuf.Any details = 3; }
message ErrorInfo { string reason = 1; string domain = 2; map<string, string> metadata = 3; }
message BadRequest {
  message FieldViolation { string field = 1; string description = 2; }
  repeated FieldViolation field_violations = 1;
}
`;

const SERVICE_PROTO = `syntax = "proto3";
package acct.v1;
message SignupRequest { string email = 1; }
message SignupReply { string id = 1; }
service Accounts { rpc Signup(SignupRequest) returns (SignupReply); }
`;

export interface StatusDetailsRun {
  events: PanoEvent[];
  /** The directory holding rpc.proto (for --proto) and the capture `file`; removed by cleanup. */
  dir: string;
  file: string;
  /** What the server put in grpc-status-details-bin, and the status it failed with. */
  statusBytes: Buffer;
  code: number;
  message: string;
  errorInfo: { reason: string; domain: string; metadata: Record<string, string> };
  violation: { field: string; description: string };
  traceBin: Buffer;
  sessionBin: Buffer;
  reqBin: Buffer;
  /** The grpc-status-details-bin the client received (grpc-js decodes the base64). */
  clientStatusBytes: Buffer | undefined;
  cleanup(): void;
}

/** Runs the call and parses its capture. `pii` is the address the error names (planted for pano-pii tests). */
export async function statusDetailsRun(pii: { email: string; phone: string }): Promise<StatusDetailsRun> {
  const dir = mkdtempSync(join(tmpdir(), 'pano-grpc-details-'));
  writeFileSync(join(dir, 'rpc.proto'), RPC_PROTO);
  const serviceFile = join(dir, 'accounts.proto');
  writeFileSync(serviceFile, SERVICE_PROTO);
  // protobufjs knows google/protobuf/any.proto itself
  const root = new protobuf.Root().loadSync(join(dir, 'rpc.proto'), { keepCase: true });
  root.resolveAll();
  const Status = root.lookupType('google.rpc.Status');
  const ErrorInfo = root.lookupType('google.rpc.ErrorInfo');
  const BadRequest = root.lookupType('google.rpc.BadRequest');

  const code = grpc.status.INVALID_ARGUMENT;
  const message = `signup refused for ${pii.email}`;
  const errorInfo = { reason: 'EMAIL_TAKEN', domain: 'accounts.example.test', metadata: { contact: pii.phone } };
  const violation = { field: 'email', description: `${pii.email} is already registered` };
  const statusBytes = Buffer.from(
    Status.encode(
      Status.fromObject({
        code,
        message,
        details: [
          { type_url: 'type.googleapis.com/google.rpc.ErrorInfo', value: ErrorInfo.encode(ErrorInfo.fromObject(errorInfo)).finish() },
          { type_url: 'type.googleapis.com/google.rpc.BadRequest', value: BadRequest.encode(BadRequest.fromObject({ field_violations: [violation] })).finish() },
        ],
      }),
    ).finish(),
  );
  // an OpenCensus-style trace context: version 0, field 0 + 16-byte trace id, field 1 + 8-byte span id, field 2 + options
  const traceBin = Buffer.from('0000' + '4bf92f3577b34da6a3ce929d0e0e4736' + '01' + '00f067aa0ba902b7' + '0201', 'hex');
  const sessionBin = Buffer.from([0x0a, 0x04, 0x73, 0x65, 0x73, 0x73]); // field 1, LEN 4, "sess"
  const reqBin = Buffer.from([0xde, 0xad, 0xbe, 0xef]);

  const def = protoLoader.loadSync(serviceFile, { keepCase: true });
  const acct = (grpc.loadPackageDefinition(def) as any).acct.v1;
  const server = new grpc.Server();
  server.addService(acct.Accounts.service, {
    Signup: (call: any, cb: any) => {
      const head = new grpc.Metadata();
      head.set('x-session-bin', sessionBin);
      call.sendMetadata(head);
      const trailers = new grpc.Metadata();
      trailers.set('grpc-status-details-bin', statusBytes);
      trailers.set('x-trace-bin', traceBin);
      cb({ code, details: message, metadata: trailers });
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  (server as unknown as { start?: () => void }).start?.();
  const file = join(dir, 'details.pcap');
  const cap = new LoopbackCapture(file, `tcp port ${port}`);
  let clientStatusBytes: Buffer | undefined;
  await cap.start();
  try {
    const client = new acct.Accounts(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const md = new grpc.Metadata();
    md.set('x-req-bin', reqBin);
    const err = await new Promise<grpc.ServiceError>((resolve, reject) =>
      client.Signup({ email: pii.email }, md, (e: grpc.ServiceError | null) => (e ? resolve(e) : reject(new Error('the call did not fail')))),
    );
    clientStatusBytes = err.metadata.get('grpc-status-details-bin')[0] as Buffer | undefined;
    client.close();
  } finally {
    await cap.stop();
    server.forceShutdown();
  }
  const { events } = parseCaptureSync(file);
  return {
    events, dir, file, statusBytes, code, message, errorInfo, violation, traceBin, sessionBin, reqBin, clientStatusBytes,
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
