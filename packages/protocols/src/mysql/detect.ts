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
      const body = head.subarray(5, Math.min(head.length, 4 + len, 5 + 32));
      // query attributes prefix: parameter count, then parameter set count 1
      const text = body.length >= 2 && body[1] === 0x01 && body[0] < 0xfb ? body.subarray(2) : body;
      for (const c of text) if (!(c >= 0x20 || c === 0x09 || c === 0x0a || c === 0x0d)) return null;
      if (!/^[\s(/]*[A-Za-z]/.test(text.toString('latin1')) && text.length > 0 && body === text) return null;
      return whole ? { sender: 'client', confidence: 0.6 } : have < len ? 'more' : null;
    }
    case Command.StmtExecute:
      if (len < 10) return null;
      if (head.length < 14) return 'more';
      return head[9] <= 0x0f && head.readUInt32LE(10) === 1 && whole ? { sender: 'client', confidence: 0.6 } : null;
    case Command.StmtPrepare:
    case Command.InitDb:
      return whole && len > 1 ? { sender: 'client', confidence: 0.5 } : have < len ? 'more' : null;
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
