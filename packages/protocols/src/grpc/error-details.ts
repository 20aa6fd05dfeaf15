/**
 * The rich-error detail types of google/rpc/error_details.proto (and the
 * google.protobuf.Duration RetryInfo holds), built in: the details a
 * grpc-go, grpc-java or grpc-js server puts in `grpc-status-details-bin`
 * are nearly always these, so a detail naming one is read with field names
 * without `--proto` (which, when it defines a type of the same name, wins).
 *
 * Field names, numbers and types are those of the published proto
 * (googleapis, as google-gax 3.6 ships it): written out here as a protobufjs
 * JSON descriptor, so no .proto file is read at run time. That version has
 * no BadRequest.FieldViolation.reason (3) or localized_message (4), nor
 * QuotaFailure.Violation's fields past description (2): a newer sender's
 * are shown schema-less under `unknown_fields`, as for any schema.
 */
import type protobuf from 'protobufjs';
import { pb } from './proto.js';

const str = (id: number) => ({ type: 'string', id });
const repeated = (type: string, id: number) => ({ rule: 'repeated', type, id });

/** google.protobuf.Duration and the messages of google.rpc's error_details.proto, keepCase names as `--proto` loads them. */
export const ERROR_DETAILS_DESCRIPTOR = {
  nested: {
    google: {
      nested: {
        protobuf: {
          nested: {
            Duration: { fields: { seconds: { type: 'int64', id: 1 }, nanos: { type: 'int32', id: 2 } } },
          },
        },
        rpc: {
          nested: {
            ErrorInfo: { fields: { reason: str(1), domain: str(2), metadata: { keyType: 'string', type: 'string', id: 3 } } },
            RetryInfo: { fields: { retry_delay: { type: 'google.protobuf.Duration', id: 1 } } },
            DebugInfo: { fields: { stack_entries: repeated('string', 1), detail: str(2) } },
            QuotaFailure: {
              fields: { violations: repeated('Violation', 1) },
              nested: { Violation: { fields: { subject: str(1), description: str(2) } } },
            },
            PreconditionFailure: {
              fields: { violations: repeated('Violation', 1) },
              nested: { Violation: { fields: { type: str(1), subject: str(2), description: str(3) } } },
            },
            BadRequest: {
              fields: { field_violations: repeated('FieldViolation', 1) },
              nested: { FieldViolation: { fields: { field: str(1), description: str(2) } } },
            },
            RequestInfo: { fields: { request_id: str(1), serving_data: str(2) } },
            ResourceInfo: { fields: { resource_type: str(1), resource_name: str(2), owner: str(3), description: str(4) } },
            Help: {
              fields: { links: repeated('Link', 1) },
              nested: { Link: { fields: { description: str(1), url: str(2) } } },
            },
            LocalizedMessage: { fields: { locale: str(1), message: str(2) } },
          },
        },
      },
    },
  },
};

// Built on the first detail that names one: protobufjs is loaded only when needed (see proto.ts).
let types: Map<string, protobuf.Type> | undefined;

function collect(ns: protobuf.NamespaceBase, out: Map<string, protobuf.Type>): void {
  for (const o of ns.nestedArray) {
    if (o instanceof pb().Type) out.set(o.fullName.slice(1), o);
    if (o instanceof pb().Namespace) collect(o, out);
  }
}

/**
 * A built-in type by its full name (`google.rpc.ErrorInfo`, nested ones as
 * `google.rpc.BadRequest.FieldViolation`), else undefined: exact names only,
 * not protobufjs's lookup, which would also find `ErrorInfo` alone.
 */
export function errorDetailType(name: string): protobuf.Type | undefined {
  if (!name.startsWith('google.')) return undefined;
  if (!types) {
    const root = pb().Root.fromJSON(ERROR_DETAILS_DESCRIPTOR);
    root.resolveAll();
    collect(root, (types = new Map()));
  }
  return types.get(name);
}
