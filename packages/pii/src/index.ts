export { AuditLog, verifyAudit, keyFingerprint, AUDIT_GENESIS } from './audit.js';
export type { AuditEntry, AuditLogOptions, AuditValue, VerifyOptions, VerifyResult } from './audit.js';
export { hmacHex, loadKey } from './keyed-hash.js';
export { scanString, scanByContext, runEnd } from './scan.js';
export { cnAddresses } from './cn-address.js';
export type { Hit } from './scan.js';
export { ALL_TYPES, RULES } from './rules.js';
export type { PiiType, AnchoredRule } from './rules.js';
export { EventScanner, MAX_EVENT_HITS, maskShape, sqlParamColumns } from './event.js';
export { parseJsonPrefix, serialiseJsonPrefix, JsonNumber, type JsonPrefix } from './json-prefix.js';
export type { PiiFinding, FindingWithHash, ScanOptions, RedactMode, Pending } from './event.js';
export { OnnxSpanModel, featurize, featureStrings, featureId, nameCandidates, lexClass, LEXICON_FILE, CLUSTERS_FILE, FEATURE_SET, FEATURE_SETS, type FeatureSet } from './model.js';
export type { Candidate, SpanModel } from './model.js';
export * as validators from './validators.js';
export { hintsFor, Hint } from './context.js';
export { main, buildProgram, BUILTIN_MODEL } from './main.js';
// lintRules/lintRegex are `@panopticon/pii/lint`: regexp-tree (~50 ms to load) is for the tests, not every start
export { validPhone, validPhoneLibrary, phoneLike, phoneShape, PHONE_REGIONS } from './phone.js';
export { fastValid, candidateDigits } from './phone-fast.js';
