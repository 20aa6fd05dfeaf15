/**
 * Context: what the name of the field holding a value (JSON key, form field,
 * header name, SQL column, Redis key, Kafka header key) says about it. A
 * matching name raises a rule's confidence, lets a few rules fire that need
 * context (bare 9-digit SSN, AWS secret, passwords, dates of birth), and a
 * name that says "this is an identifier/hash/version" lowers it.
 */

/** Bit flags for the PII kinds a field name hints at. */
export const Hint = {
  email: 1 << 0,
  phone: 1 << 1,
  card: 1 << 2,
  ssn: 1 << 3,
  dob: 1 << 4,
  password: 1 << 5,
  name: 1 << 6,
  address: 1 << 7,
  iban: 1 << 8,
  auth: 1 << 9,
  secret: 1 << 10,
  aws_secret: 1 << 11,
  aadhaar: 1 << 12,
  nino: 1 << 13,
  pan: 1 << 14,
  ip: 1 << 15,
  /** the name says the value is an identifier, digest, version or time, not personal data */
  notPii: 1 << 16,
} as const;

// Checked against the field name with separators removed and lower-cased
// ("First-Name" → "firstname"), so one pattern covers snake, kebab and camel case.
const NAME_RULES: Array<[RegExp, number]> = [
  [/e?mail(addr(ess)?)?$|^from$|^to$|^cc$|^replyto$/, Hint.email],
  [/phone|mobile|^tel$|telephone|msisdn|^cell$|fax|contactnumber/, Hint.phone],
  [/card(number|no|num)?$|^cc(num|number)?$|^pan$|creditcard|cardnumber/, Hint.card],
  [/ssn|socialsecurity|^sin$/, Hint.ssn],
  [/dob|birth|bday|dateofbirth/, Hint.dob],
  [/passw(or)?d|^pwd$|^pass$|passphrase|^pin$/, Hint.password],
  [/(first|last|given|family|middle|full|display|customer|contact|holder|patient|person|maiden|sur)name$|^name$|^surname$|^fullname$|^cardholder$/, Hint.name],
  // a person in a role: the value is who it is (`"author": "Kofi Moreno"`, `XADD … rider Castilla`); not `user`,
  // `owner` or `client`, which as often name an account, a team or a program
  [/^(author|assignee|reporter|rider|driver|passenger|patient|employee|recipient|beneficiary|tenant|applicant|attendee|guest|spouse|nextofkin|policyholder|accountholder|insured|witness)$/, Hint.name],
  [/address|^street|addr(ess)?line|^addr$|billingaddr|shippingaddr|^residence$/, Hint.address],
  [/iban|bankaccount|accountnumber/, Hint.iban],
  [/^authorization$|^proxyauthorization$/, Hint.auth],
  [/secret|apikey|accesstoken|refreshtoken|^token$|authtoken|clientsecret|privatekey|xapikey|sessiontoken|^auth$/, Hint.secret],
  [/awssecret|secretaccesskey/, Hint.aws_secret],
  [/aadhaar|aadhar|^uid(ai)?$/, Hint.aadhaar],
  [/nino|nationalinsurance|^ni(number|no)$/, Hint.nino],
  [/^pan(number|no|card)?$|incometax/, Hint.pan],
  [/^ip$|ipaddr|remoteaddr|clientip|xforwardedfor|xrealip|^forwarded$/, Hint.ip],
  // `id` itself only: `user_id`, `customer_id` and the like often hold e-mail addresses or user names
  [/^id$|uuid|guid|hash$|sha\d*$|md5|digest|checksum|version$|^ver$|^v$|timestamp|^ts$|time$|^date$|createdat|updatedat|etag|requestid|traceid|spanid|traceparent|nonce|^seq|offset$|^count$|^size$|length$|^port$|useragent|^:?authority$|^host$|hostname$|^range$|^contentrange$|^ifrange$|^platform$|^product$/, Hint.notPii],
];

const cache = new Map<string, number>();

/** Normalise a field name: lower-case, drop `-`, `_`, `.`, spaces. */
export function normaliseKey(key: string): string {
  return key.toLowerCase().replace(/[-_. ]/g, '');
}

/** Hint flags for a field name (cached: names repeat across events). */
export function hintsFor(key: string | undefined): number {
  if (!key) return 0;
  let h = cache.get(key);
  if (h !== undefined) return h;
  const k = normaliseKey(key);
  h = 0;
  for (const [re, flag] of NAME_RULES) if (re.test(k)) h |= flag;
  // a name that is both (e.g. `email_hash`) is a digest of the value, not the value
  if (h & Hint.notPii && /hash|sha|md5|digest/.test(k)) h = Hint.notPii;
  else if (h & ~Hint.notPii) h &= ~Hint.notPii;
  if (cache.size < 10_000) cache.set(key, h);
  return h;
}

/** Verbs and nouns that announce a phone number in prose ("call 4155552671", "reach me at ..."). */
const PHONE_WORDS = new Set([
  'call', 'calling', 'phone', 'ring', 'text', 'texting', 'sms', 'whatsapp', 'dial', 'cell', 'mobile', 'tel',
  'telephone', 'fax', 'contact', 'reach', 'answer', 'answering', 'landline', 'cellphone', 'signal', 'telegram',
]);

/**
 * Words just before a hit inside free text ("DOB: 1980-02-01", "WHERE email
 * = '...'", "ssn=...") count as context too: hints from the last identifier
 * within `window` characters before `start`.
 */
export function hintsBefore(s: string, start: number, window = 24): number {
  const from = Math.max(0, start - window);
  const seg = s.slice(from, start);
  const m = /([A-Za-z][A-Za-z0-9_-]{1,40})["']?\s*(?:[:=]|\bis\b|=>|\s)\s*["'(]?\s*$/.exec(seg);
  if (!m) return 0;
  const base = hintsFor(m[1]!);
  if (base) return base;
  const w = m[1]!.toLowerCase();
  if (w === 'born') return Hint.dob;
  if (PHONE_WORDS.has(w)) return Hint.phone;
  return 0;
}

/** Words skipped between a phone word and the number: "call me on", "reach us at", "phone number is". */
const PHONE_FILLERS = new Set([
  'at', 'on', 'to', 'via', 'by', 'me', 'us', 'you', 'him', 'her', 'them', 'is', 'are', 'was', 'be', 'number', 'no',
  'nr', 'num', 'the', 'a', 'our', 'my', 'your', 'his', 'their', 'or', 'please', 'directly', 'back', 'now', 'anytime',
]);
const POSSESSIVES = new Set(['my', 'your', 'our', 'his', 'her', 'their']);

/**
 * Does the prose just before `start` announce a phone number? Walks back over
 * at most five words (and `:`, `#`, quotes, parens, line breaks) within 48
 * characters, skipping fillers ("me", "on", "at", "number", ...), and answers
 * true at the first phone word ("call me on", "They're not answering at",
 * "Phone:\n", "mobile no.") or for a possessive before "number" ("my number
 * is"). Any other word, a digit or a closing bracket stops the walk.
 */
export function phoneWordBefore(s: string, start: number): boolean {
  const lo = Math.max(0, start - 48);
  let i = start;
  let sawNumber = false;
  for (let words = 0; words < 5; words++) {
    // separators between words
    while (i > lo) {
      const c = s.charCodeAt(i - 1);
      if (c === 32 || c === 9 || c === 10 || c === 13 || c === 58 || c === 35 || c === 34 || c === 39 || c === 40 || c === 46 || c === 61 || c === 44 || c === 45) i--;
      else break;
    }
    const end = i;
    while (i > lo) {
      const c = s.charCodeAt(i - 1) | 32;
      if (c >= 97 && c <= 122) i--;
      else break;
    }
    if (i === end) return false;
    // a word cut by the window, or glued to a digit/underscore, is not a word of prose
    if (i > 0 && i === lo && lo > 0) return false;
    if (i > 0) {
      const p = s.charCodeAt(i - 1);
      if ((p >= 48 && p <= 57) || p === 95) return false;
    }
    const w = s.slice(i, end).toLowerCase();
    if (PHONE_WORDS.has(w) || hintsFor(w) & Hint.phone) return true;
    if (sawNumber && POSSESSIVES.has(w)) return true;
    if (w === 'number' || w === 'no' || w === 'nr' || w === 'num') sawNumber = true;
    if (!PHONE_FILLERS.has(w)) return false;
  }
  return false;
}

/** Labels written after a number in contact blocks: "555 0100 office", "020 7946 0958 (mobile)", "...-Fax". */
const PHONE_LABELS = new Set(['office', 'fax', 'mobile', 'cell', 'home', 'work', 'phone', 'tel', 'landline', 'telephone']);

/**
 * Is the number ending at `end` followed by a phone label? Allows one
 * separator run of at most three characters (space, `-`, `(`, `/`) before a
 * word in PHONE_LABELS that ends at a non-letter.
 */
export function phoneLabelAfter(s: string, end: number): boolean {
  let i = end;
  const hi = Math.min(s.length, end + 3);
  while (i < hi) {
    const c = s.charCodeAt(i);
    if (c === 32 || c === 45 || c === 40 || c === 47 || c === 9) i++;
    else break;
  }
  if (i === end && i < s.length) return false;
  const w0 = i;
  while (i < s.length && i - w0 <= 10) {
    const c = s.charCodeAt(i) | 32;
    if (c >= 97 && c <= 122) i++;
    else break;
  }
  if (i === w0 || i - w0 > 9) return false;
  return PHONE_LABELS.has(s.slice(w0, i).toLowerCase());
}
