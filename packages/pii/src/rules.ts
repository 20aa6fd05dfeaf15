/**
 * The literal-anchored rules. Each rule names one or more rare literal
 * anchors (`@`, `eyJ`, `AKIA`, `-----BEGIN`, a keyword) that the scanner
 * finds with `indexOf`; only there does it run the rule's sticky (`/y`),
 * bounded regex. No rule has an unbounded or nested quantifier: `lintRules`
 * (run by the tests, using regexp-tree) rejects them and checks that each
 * anchor really is a literal of its regex.
 */
import { Hint } from './context.js';
import { b64decode, entropy, validBasic, validJwt } from './validators.js';

export type PiiType =
  | 'email' | 'phone' | 'credit_card' | 'us_ssn' | 'iban' | 'ipv4' | 'ipv6' | 'jwt'
  | 'aws_access_key_id' | 'aws_secret_access_key' | 'github_token' | 'gitlab_token' | 'slack_token'
  | 'slack_webhook' | 'stripe_key' | 'google_api_key' | 'private_key' | 'bearer_token' | 'basic_auth'
  | 'url_password' | 'password' | 'api_key' | 'aadhaar' | 'in_pan' | 'uk_nino' | 'date_of_birth'
  | 'person_name' | 'street_address';

export const ALL_TYPES: PiiType[] = [
  'email', 'phone', 'credit_card', 'us_ssn', 'iban', 'ipv4', 'ipv6', 'jwt', 'aws_access_key_id',
  'aws_secret_access_key', 'github_token', 'gitlab_token', 'slack_token', 'slack_webhook', 'stripe_key',
  'google_api_key', 'private_key', 'bearer_token', 'basic_auth', 'url_password', 'password', 'api_key',
  'aadhaar', 'in_pan', 'uk_nino', 'date_of_birth', 'person_name', 'street_address',
];

export interface AnchoredRule {
  type: PiiType;
  /** Literal strings located with indexOf; each must occur literally in `re`. */
  anchors: string[];
  /** Sticky, bounded pattern run at the start position. */
  re: RegExp;
  /**
   * The same pattern over every script (`u` flag, Unicode classes), slower: run instead
   * of `re` where the text beside the anchor is not ASCII, or `re` finds nothing.
   */
  wide?: RegExp;
  /** How far back from the anchor the match may start, over email local-part characters; default 0. */
  back?: { max: number };
  /** Capture group holding the value (the rest is context such as `password=`); needs the `d` flag. */
  group?: number;
  /** Require a non-word character (or start) before the match. */
  boundary?: boolean;
  validate?: (value: string) => boolean;
  validator: string | null;
  confidence: number;
  /** Field-name hints that raise confidence. */
  hint?: number;
}

const b64urlJsonObject = (seg: string): boolean => {
  const b = b64decode(seg);
  return b !== undefined && b.length > 0 && b[0] === 0x7b;
};

export const RULES: AnchoredRule[] = [
  {
    type: 'email', anchors: ['@'],
    re: /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-]|[^\x00-\x7f])/y,
    // Internationalised addresses (RFC 6531: `renée.dupré@exemple.fr`, `jürgen@müller.de`) have
    // letters and digits of any script in the local part and the domain's labels; read as ASCII
    // only, the match began after the last non-ASCII letter and left the start of the name out.
    // The ASCII pattern above fails where a character beside it is not ASCII, and this runs.
    wide: /[\p{L}\p{M}\p{N}._%+-]{1,64}@[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}-]{0,61}[\p{L}\p{M}\p{N}])?(?:\.[\p{L}\p{N}](?:[\p{L}\p{M}\p{N}-]{0,61}[\p{L}\p{M}\p{N}])?){0,8}\.\p{L}[\p{L}\p{M}]{1,23}(?![\p{L}\p{M}\p{N}-])/uy,
    back: { max: 64 },
    validate: (v) => v[0] !== '.' && v[v.indexOf('@') - 1] !== '.' && !v.includes('..'),
    validator: 'rfc5321-shape', confidence: 0.9, hint: Hint.email,
  },
  {
    // percent-encoded, as in cookies and query strings that were not decoded. The local part holds no
    // %40 of its own: taken greedily it ran on to the next address's (`u0%40a.org%20u1%40b.org` was one)
    type: 'email', anchors: ['%40'],
    re: /(?:(?!%40)[A-Za-z0-9._%+-]){1,64}%40[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?){0,8}\.[A-Za-z]{2,24}(?![A-Za-z0-9-])/y,
    back: { max: 64 },
    validate: (v) => v[0] !== '.' && !v.includes('..'),
    validator: 'rfc5321-shape', confidence: 0.85, hint: Hint.email,
  },
  {
    type: 'url_password', anchors: ['://'],
    re: /:\/\/[^\s/?#:@"'<>]{1,64}:([^\s/?#@"'<>]{1,128})@/dy, group: 1,
    validate: (v) => v.length > 0,
    validator: 'url-userinfo', confidence: 0.95,
  },
  {
    type: 'jwt', anchors: ['eyJ'],
    // Tokens with many claims (group and role lists, an x5c chain) run to tens of KB: the
    // payload may take 64 KiB, the scan windows' overlap (event.ts), the other parts 16 KiB.
    re: /eyJ[A-Za-z0-9_-]{5,16384}\.[A-Za-z0-9_-]{2,65536}\.[A-Za-z0-9_-]{0,16384}/y, boundary: true,
    validate: (v) => validJwt(v) && b64urlJsonObject(v.slice(0, v.indexOf('.'))),
    validator: 'jwt-header-alg', confidence: 0.97, hint: Hint.auth | Hint.secret,
  },
  {
    type: 'aws_access_key_id', anchors: ['AKIA', 'ASIA'],
    re: /(?:AKIA|ASIA)[A-Z2-7]{16}(?![A-Za-z0-9])/y, boundary: true,
    validator: 'aws-key-id-alphabet', confidence: 0.95,
  },
  {
    type: 'aws_secret_access_key', anchors: ['aws_secret_access_key', 'AWS_SECRET_ACCESS_KEY', 'SecretAccessKey', 'secret_access_key', 'aws_secret_key', 'AWS_SECRET_KEY'],
    re: /(?:aws_secret_access_key|AWS_SECRET_ACCESS_KEY|SecretAccessKey|secret_access_key|aws_secret_key|AWS_SECRET_KEY)["']?\s{0,4}[:=]\s{0,4}["']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])/dy, group: 1,
    validate: (v) => entropy(v) > 4,
    validator: 'context+entropy', confidence: 0.95,
  },
  {
    type: 'github_token', anchors: ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_'],
    re: /gh[pousr]_[A-Za-z0-9]{36}(?![A-Za-z0-9])/y, boundary: true,
    validator: 'prefix+length', confidence: 0.97,
  },
  {
    type: 'github_token', anchors: ['github_pat_'],
    re: /github_pat_[A-Za-z0-9_]{82}(?![A-Za-z0-9_])/y, boundary: true,
    validator: 'prefix+length', confidence: 0.97,
  },
  {
    type: 'gitlab_token', anchors: ['glpat-'],
    re: /glpat-[A-Za-z0-9_-]{20}(?![A-Za-z0-9_-])/y, boundary: true,
    validator: 'prefix+length', confidence: 0.97,
  },
  {
    type: 'slack_token', anchors: ['xoxb-', 'xoxp-', 'xoxa-', 'xoxr-', 'xoxs-', 'xoxe-'],
    re: /xox[bpars]-[0-9]{8,13}-[0-9A-Za-z-]{8,120}|xoxe-[0-9]-[A-Za-z0-9]{100,200}/y, boundary: true,
    validator: 'prefix+shape', confidence: 0.97,
  },
  {
    type: 'slack_webhook', anchors: ['hooks.slack.com/'],
    re: /hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9+/]{40,110}/y,
    validator: 'prefix+shape', confidence: 0.97,
  },
  {
    type: 'stripe_key', anchors: ['sk_live_', 'rk_live_', 'sk_test_', 'rk_test_'],
    re: /[rs]k_(?:live|test)_[A-Za-z0-9]{20,99}(?![A-Za-z0-9])/y, boundary: true,
    validator: 'prefix+length', confidence: 0.97,
  },
  {
    type: 'google_api_key', anchors: ['AIza'],
    re: /AIza[A-Za-z0-9_-]{35}(?![A-Za-z0-9_-])/y, boundary: true,
    validator: 'prefix+length', confidence: 0.95,
  },
  {
    type: 'private_key', anchors: ['-----BEGIN '],
    // or cut off by the end of the value (a body cut at --max-body, a truncated capture): the key is out either way
    // (a block over 64 KiB, a PGP key with many subkeys, is taken for its first 64 KiB: the scan windows' overlap)
    // its line breaks may be written as a JSON string writes them, once or nested (`\n`, `\\n`, `\\\\n`: a key in a
    // Redis query text, in a JSON document kept in a string), where a key stopped at the first backslash
    re: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----(?:(?:[A-Za-z0-9+/=\s:,-]|\\(?:\\(?:\\\\)?)?[nr]){16,65536}?(?:-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----|$)|(?:[A-Za-z0-9+/=\s:,-]|\\(?:\\(?:\\\\)?)?[nr]){65536})/y,
    validator: 'pem-armor', confidence: 0.99,
  },
  {
    type: 'bearer_token', anchors: ['Bearer ', 'bearer ', 'BEARER '],
    // Whole up to 64 KiB (the scan windows' overlap, event.ts; servers refuse longer headers);
    // a longer token is taken for its first 64 KiB rather than passed over.
    re: /(?:Bearer|bearer|BEARER) {1,4}([A-Za-z0-9._~+/-]{16,65536}={0,2}(?![A-Za-z0-9._~+/=-])|[A-Za-z0-9._~+/-]{65537})/dy, group: 1,
    boundary: true,
    validate: (v) => entropy(v) > 3,
    validator: 'rfc6750-shape', confidence: 0.9, hint: Hint.auth,
  },
  {
    type: 'basic_auth', anchors: ['Basic ', 'basic ', 'BASIC '],
    re: /(?:Basic|basic|BASIC) {1,4}([A-Za-z0-9+/]{4,1024}={0,2})(?![A-Za-z0-9+/=])/dy, group: 1,
    boundary: true,
    validate: validBasic,
    validator: 'base64-user:pass', confidence: 0.95, hint: Hint.auth,
  },
  {
    type: 'password', anchors: ['password', 'Password', 'PASSWORD', 'passwd', 'PASSWD', 'pwd'],
    // not a JSON member (`"password":"…"`): the rule below takes those whole
    re: /(?:password|Password|PASSWORD|passwd|PASSWD|pwd)(?!"\s{0,4}:\s{0,4}")["']?\s{0,4}(?:[:=]|=>)\s{0,4}["']?([^\s"'&,;)}\]]{1,128})/dy, group: 1,
    // placeholders and MySQL's "(using password: NO)"
    validate: (v) => !/^(\*+|x+|null|none|undefined|true|false|yes|no|\?|\$\d+|:\w+|%s)$/i.test(v),
    validator: 'keyword', confidence: 0.85,
  },
  {
    // A JSON member in text scanned as it is (a body cut at --max-body does not parse, a JSON document
    // inside another string): the whole string value up to its closing quote, spaces and escaped quotes
    // included, or to the end of the text; the rule above stopped at the first space (`correct horse …`)
    type: 'password', anchors: ['password', 'Password', 'PASSWORD', 'passwd', 'PASSWD', 'pwd'],
    re: /(?:password|Password|PASSWORD|passwd|PASSWD|pwd)"\s{0,4}:\s{0,4}"((?:[^"\\\r\n]|\\.){1,256}?)(?="|$)/dy, group: 1,
    validate: (v) => !/^(\*+|x+|null|none|undefined|true|false|yes|no|\?|\$\d+|:\w+|%s)$/i.test(v),
    validator: 'keyword', confidence: 0.85,
  },
];

/** Flattened (anchor, rule) pairs for the scanner, built once. */
export const ANCHORS: Array<{ anchor: string; rule: AnchoredRule }> = RULES.flatMap((rule) =>
  rule.anchors.map((anchor) => ({ anchor, rule })),
);
