/**
 * Passwords written into SQL text (CREATE/ALTER ROLE ... PASSWORD '...',
 * CREATE/ALTER USER ... IDENTIFIED BY '...', SET PASSWORD = '...', GRANT ...
 * IDENTIFIED BY '...') are credentials, not data: their literals are replaced
 * by '?' before the text leaves the parser, as the handshake's secrets are
 * never read at all. Only statements whose first keyword can carry one are
 * searched, so ordinary queries cost one keyword check.
 */
import { sqlOperation } from './operation.js';

const mayCarry = new Set(['CREATE', 'ALTER', 'SET', 'GRANT']);

/** A quoted literal: '...' or "..." with doubled quotes or backslash escapes inside. */
const literal = String.raw`(?:'(?:[^'\\]|\\[\s\S]|'')*'|"(?:[^"\\]|\\[\s\S]|"")*")`;

const patterns = [
  // PostgreSQL: [ENCRYPTED] PASSWORD 'x' (CREATE/ALTER ROLE|USER)
  new RegExp(String.raw`(\bPASSWORD\s+)${literal}`, 'gi'),
  // MySQL / MariaDB: IDENTIFIED [WITH plugin] BY|AS [PASSWORD] 'x'
  new RegExp(String.raw`(\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)${literal}`, 'gi'),
  // MySQL / MariaDB: SET PASSWORD [FOR user] = [PASSWORD(]'x'
  new RegExp(String.raw`(\bSET\s+PASSWORD\b[^=]*=\s*(?:(?:OLD_)?PASSWORD\s*\(\s*)?)${literal}`, 'gi'),
];

/** The text with password literals replaced by '?', and whether anything was replaced. */
export function redactSqlSecrets(text: string): { text: string; redacted: boolean } {
  const op = sqlOperation(text);
  if (op === undefined || !mayCarry.has(op)) return { text, redacted: false };
  let out = text;
  for (const re of patterns) out = out.replace(re, "$1'?'");
  return { text: out, redacted: out !== text };
}
