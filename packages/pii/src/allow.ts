/**
 * `--allow`: known test values that are never reported. A value is allowed
 * when the finding's text as written, or the value it stands for
 * (decodedValue: percent escapes decoded, `+` a space where a form wrote
 * it), is an entry: `a@x.org` covers `a%40x.org` in a Referer or in
 * `url.full` as it covers the decoded `url.query$.email`, however the
 * encoder escaped it. Only the whole value: `a%40x.org.evil.com` and
 * `b.a@x.org` are other values.
 *
 * An e-mail address's domain is compared in any case, its local part as
 * written: domain names are case-insensitive (RFC 5321 §2.4, RFC 4343),
 * while the local part may be case-sensitive to the receiving host
 * (RFC 5321 §2.4), so `A@x.org` may be another mailbox than `a@x.org`, and an
 * allow list must not let through more than it names.
 */
import type { PiiType } from './rules.js';
import { decodedValue } from './percent.js';
import { canonicalEmail as emailKey } from './canonical.js';

export class AllowList {
  private readonly exact: ReadonlySet<string>;
  /** The entries holding an `@`, domains lower-cased, for e-mail findings. */
  private readonly emails = new Set<string>();

  constructor(entries: Iterable<string>) {
    const exact = new Set<string>();
    for (const e of entries) {
      exact.add(e);
      if (e.includes('@')) this.emails.add(emailKey(e));
    }
    this.exact = exact;
  }

  /** Is the finding of `type` written `text` (standing for `sameAs` when it repeats a value written otherwise) allowed? */
  has(type: PiiType, text: string, sameAs?: string): boolean {
    if (this.exact.has(text)) return true;
    const value = decodedValue(type, sameAs ?? text);
    if (type === 'email') return this.emails.has(emailKey(value)) || this.emails.has(emailKey(text));
    return value !== text && this.exact.has(value);
  }
}
