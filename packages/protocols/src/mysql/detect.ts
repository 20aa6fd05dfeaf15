/**
 * Is this MySQL / MariaDB? From the first bytes one side sent:
 * - the server's greeting: sequence id 0, protocol version 10, a printable
 *   NUL-terminated version string (or an ERR packet refusing the host);
 * - joined mid-connection: a client command packet (sequence id 0, known
 *   command byte) whose length matches the bytes received, with a payload
 *   that looks like that command (SQL text for COM_QUERY, iteration count 1
 *   for COM_STMT_EXECUTE, ...).
 */
import type { Detection } from '../types.js';
import { Command } from './constants.js';

export function detectMysql(head: Buffer): Detection {
  if (head.length < 5) return 'more';
  const len = head.readUIntLE(0, 3);
  const seq = head[3];
  if (seq !== 0 || len === 0) return null;
  const first = head[4];
  if (first === 10) return greeting(head, len);
  if (first === 0xff && len >= 3 && len < 1024) {
    if (head.length < 7) return 'more';
    const code = head.readUInt16LE(5);
    return code >= 1000 && code < 5000 ? { sender: 'server', confidence: 0.5 } : null;
  }
  return command(head, len, first);
}

function greeting(head: Buffer, len: number): Detection {
  if (len < 20 || len > 1024) return null;
  const end = Math.min(head.length, 4 + len);
  for (let i = 5; i < end; i++) {
    const c = head[i];
    if (c === 0) return i > 5 ? { sender: 'server', confidence: 1 } : null;
    if (c < 0x20 || c > 0x7e) return null;
  }
  return head.length < 4 + len ? 'more' : null;
}

function command(head: Buffer, len: number, code: number): Detection {
  const have = head.length - 4;
  const whole = have === len || (have > len && head.length >= 4 + len + 4 && head[4 + len + 3] === 0);
  switch (code) {
    case Command.Query: {
      if (len < 2) return null;
      const body = head.subarray(5, Math.min(head.length, 4 + len, 5 + 48));
      // query attributes prefix with no attributes: count 0, parameter set count 1 (what clients send)
      const text = body.length >= 2 && body[0] === 0x00 && body[1] === 0x01 ? body.subarray(2) : body;
      if (!looksLikeSql(text)) return null;
      return whole ? { sender: 'client', confidence: 0.6 } : have < len ? 'more' : null;
    }
    case Command.StmtExecute:
      if (len < 10) return null;
      if (head.length < 14) return 'more';
      return head[9] <= 0x0f && head.readUInt32LE(10) === 1 && whole ? { sender: 'client', confidence: 0.6 } : null;
    case Command.StmtPrepare:
    case Command.InitDb: {
      if (len < 2) return null;
      const body = head.subarray(5, Math.min(head.length, 4 + len, 5 + 48));
      if (code === Command.StmtPrepare ? !looksLikeSql(body) : !/^[\w$.-]+$/.test(body.toString('latin1'))) return null;
      return whole ? { sender: 'client', confidence: 0.5 } : have < len ? 'more' : null;
    }
    case Command.Ping:
    case Command.Quit:
    case Command.Statistics:
    case Command.ResetConnection:
      return len === 1 && whole ? { sender: 'client', confidence: 0.4 } : null;
    case Command.StmtClose:
    case Command.StmtReset:
      return len === 5 && whole ? { sender: 'client', confidence: 0.4 } : null;
    default:
      return null;
  }
}

/** The start of SQL text: printable ASCII or valid UTF-8, beginning (after blanks, parentheses, comments) with a letter. */
function looksLikeSql(text: Buffer): boolean {
  if (text.length === 0) return false;
  // a multi-byte character cut by the sample's end is fine; anything else invalid is not text
  const s = text.toString('utf8');
  const body = s.replace(/\ufffd$/, '');
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i);
    if (c === 0xfffd || (c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) return false;
  }
  return /^[\s(]*(\/\*.*?\*\/[\s(]*|--[^\n]*\n[\s(]*|#[^\n]*\n[\s(]*)*[A-Za-z]/s.test(body) || /^[\s(]*(\/\*|--|#)/.test(body);
}
