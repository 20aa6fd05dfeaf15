/**
 * memcached's two protocols: the text commands (protocol.txt, with the
 * meta commands of 1.6) and the binary protocol's opcodes and statuses
 * (protocol_binary.h).
 */

/** Text commands followed by a data block: `<cmd> <key> <flags> <exptime> <bytes> [cas] [noreply]`. */
export const STORAGE = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
/** Text retrieval commands: `get|gets <key>*`, `gat|gats <exptime> <key>*`. */
export const RETRIEVAL = new Set(['get', 'gets', 'gat', 'gats']);
/** Meta commands (memcached 1.6): `<cmd> <key> <flag>*`; `ms` has a data block, `mn` and `me` differ. */
export const META = new Set(['mg', 'ms', 'md', 'ma', 'mn', 'me']);
/** Every text command memcached answers; a first line naming one is how a text connection is recognised. */
export const TEXT_COMMANDS = new Set([
  ...STORAGE, ...RETRIEVAL, ...META,
  'delete', 'incr', 'decr', 'touch', 'stats', 'version', 'flush_all', 'verbosity', 'quit', 'shutdown',
  'cache_memlimit', 'slabs', 'lru', 'lru_crawler', 'watch', 'misbehave', 'extstore',
]);

/** Text response lines that end a response (a retrieval's VALUE blocks and STAT lines end at END). */
export const TERMINAL = new Set([
  'END', 'STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED', 'OK', 'ERROR', 'CLIENT_ERROR', 'SERVER_ERROR',
  'VERSION', 'RESET', 'BUSY', 'BADCLASS', 'NOSPARE', 'NOTFULL', 'UNSAFE', 'SAME',
  'HD', 'EN', 'NF', 'NS', 'EX', 'MN', 'ME', 'VA',
]);

export const REQUEST_MAGIC = 0x80;
export const RESPONSE_MAGIC = 0x81;
export const BINARY_HEADER = 24;

/** Binary opcodes by number (protocol_binary.h), lower case. */
export const OPCODES: Record<number, string> = {
  0x00: 'get', 0x01: 'set', 0x02: 'add', 0x03: 'replace', 0x04: 'delete', 0x05: 'increment', 0x06: 'decrement',
  0x07: 'quit', 0x08: 'flush', 0x09: 'getq', 0x0a: 'noop', 0x0b: 'version', 0x0c: 'getk', 0x0d: 'getkq',
  0x0e: 'append', 0x0f: 'prepend', 0x10: 'stat', 0x11: 'setq', 0x12: 'addq', 0x13: 'replaceq', 0x14: 'deleteq',
  0x15: 'incrementq', 0x16: 'decrementq', 0x17: 'quitq', 0x18: 'flushq', 0x19: 'appendq', 0x1a: 'prependq',
  0x1b: 'verbosity', 0x1c: 'touch', 0x1d: 'gat', 0x1e: 'gatq', 0x23: 'gatk', 0x24: 'gatkq',
  0x20: 'sasl_list_mechs', 0x21: 'sasl_auth', 0x22: 'sasl_step',
};

/** Quiet opcodes: the server answers only what is worth saying (a hit for getq, a failure for setq). */
export const QUIET = new Set([0x09, 0x0d, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1e, 0x24]);
export const OP_STAT = 0x10;
export const OP_NOOP = 0x0a;
/** Opcodes whose requests carry flags and expiration as extras. */
export const OP_STORE = new Set([0x01, 0x02, 0x03, 0x11, 0x12, 0x13]);
export const OP_ARITH = new Set([0x05, 0x06, 0x15, 0x16]);
export const OP_EXPIRY = new Set([0x1c, 0x1d, 0x1e, 0x23, 0x24]);
/** SASL: the authentication data is a credential, kept by size only. */
export const OP_SASL = new Set([0x21, 0x22]);
/** Retrievals whose response carries the item's flags as extras. */
export const OP_GET = new Set([0x00, 0x09, 0x0c, 0x0d, 0x1d, 0x1e, 0x23, 0x24]);

/** Binary response statuses, lower snake case. */
export const STATUSES: Record<number, string> = {
  0x0000: 'no_error', 0x0001: 'key_not_found', 0x0002: 'key_exists', 0x0003: 'value_too_large', 0x0004: 'invalid_arguments',
  0x0005: 'item_not_stored', 0x0006: 'non_numeric', 0x0007: 'vbucket_elsewhere', 0x0008: 'auth_error', 0x0009: 'auth_continue',
  0x0081: 'unknown_command', 0x0082: 'out_of_memory', 0x0083: 'not_supported', 0x0084: 'internal_error', 0x0085: 'busy',
  0x0086: 'temporary_failure',
};

/** Statuses that report how a request went, not that it failed (a miss, a lost cas race, an add of a present key). */
export const OUTCOMES = new Set([0x0000, 0x0001, 0x0002, 0x0005]);
