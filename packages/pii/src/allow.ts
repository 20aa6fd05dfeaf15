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
import { canonicalValue } from './canonical.js';

export class AllowList {
  private readonly exact: ReadonlySet<string>;
  /** The entries in each type's canonical form (canonical.ts), made on a type's first finding. */
  private readonly forms = new Map<PiiType, ReadonlySet<string>>();

  constructor(entries: Iterable<string>) {
    this.exact = new Set(entries);
  }

  /**
   * Is the finding of `type` written `text` (standing for `sameAs` when it repeats a value written
   * otherwise) allowed? Compared in the type's canonical form, the one its keyed hash is of: an entry
   * `+16502530000` allows `+1 650-253-0000` and `(650) 253-0000`, `4111 1111 1111 1111` the card
   * written with dashes, `a@x.org` the address with its domain in capitals.
   */
  has(type: PiiType, text: string, sameAs?: string): boolean {
    if (this.exact.has(text)) return true;
    let forms = this.forms.get(type);
    if (!forms) this.forms.set(type, (forms = new Set([...this.exact].map((e) => canonicalValue(type, e)))));
    return forms.has(canonicalValue(type, decodedValue(type, sameAs ?? text)));
  }
}
