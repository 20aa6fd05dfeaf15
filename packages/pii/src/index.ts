export { AuditLog, verifyAudit, keyFingerprint, AUDIT_GENESIS } from './audit.js';
export type { AuditEntry, AuditLogOptions, AuditValue, VerifyOptions, VerifyResult } from './audit.js';
export { hmacHex, loadKey } from './keyed-hash.js';
