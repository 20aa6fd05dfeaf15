/**
 * The user name in a SASL exchange (RFC 4422) as the mail protocols carry it
 * (SMTP and POP3 AUTH): PLAIN's `authzid NUL authcid NUL password` (RFC 4616)
 * and LOGIN's first answer. Only the name is read; the password next to it
 * never leaves this module.
 */

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Base64 text decoded, when it is text (a user name); undefined otherwise. */
export function base64Text(s: string): string | undefined {
  if (!BASE64.test(s)) return undefined;
  const t = Buffer.from(s, 'base64').toString('utf8');
  return t.includes('\ufffd') ? undefined : t;
}

/**
 * The user name in an AUTH answer: PLAIN's authentication identity (or its
 * authorisation identity when that is empty), LOGIN's first answer
 * (`initial`: the initial response or the answer to the first challenge).
 */
export function saslUser(mechanism: string, answer: string, initial: boolean): string | undefined {
  if (mechanism === 'PLAIN') {
    if (!BASE64.test(answer)) return undefined;
    const parts = Buffer.from(answer, 'base64').toString('utf8').split('\0');
    return parts.length === 3 ? parts[1] || parts[0] : undefined;
  }
  if (mechanism === 'LOGIN' && initial) return base64Text(answer);
  return undefined;
}
