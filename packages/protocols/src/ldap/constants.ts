/**
 * LDAP's protocol operations (RFC 4511 §4.2–4.14, the [APPLICATION n] tags
 * as they appear on the wire), result codes (§4.1.9 and later RFCs), and the
 * object identifiers of the extended operations and controls seen in practice.
 */

export const BIND_REQUEST = 0x60;
export const BIND_RESPONSE = 0x61;
export const UNBIND_REQUEST = 0x42;
export const SEARCH_REQUEST = 0x63;
export const SEARCH_RESULT_ENTRY = 0x64;
export const SEARCH_RESULT_DONE = 0x65;
export const MODIFY_REQUEST = 0x66;
export const MODIFY_RESPONSE = 0x67;
export const ADD_REQUEST = 0x68;
export const ADD_RESPONSE = 0x69;
export const DEL_REQUEST = 0x4a;
export const DEL_RESPONSE = 0x6b;
export const MODIFY_DN_REQUEST = 0x6c;
export const MODIFY_DN_RESPONSE = 0x6d;
export const COMPARE_REQUEST = 0x6e;
export const COMPARE_RESPONSE = 0x6f;
export const ABANDON_REQUEST = 0x50;
export const SEARCH_RESULT_REFERENCE = 0x73;
export const EXTENDED_REQUEST = 0x77;
export const EXTENDED_RESPONSE = 0x78;
export const INTERMEDIATE_RESPONSE = 0x79;
/** Controls follow the operation in an LDAPMessage: [0] SEQUENCE OF Control. */
export const CONTROLS = 0xa0;

/** Each request's operation name in events, and whether a response answers it. */
export const REQUESTS: Readonly<Record<number, { name: string; answered: boolean }>> = {
  [BIND_REQUEST]: { name: 'bind', answered: true },
  [UNBIND_REQUEST]: { name: 'unbind', answered: false },
  [SEARCH_REQUEST]: { name: 'search', answered: true },
  [MODIFY_REQUEST]: { name: 'modify', answered: true },
  [ADD_REQUEST]: { name: 'add', answered: true },
  [DEL_REQUEST]: { name: 'delete', answered: true },
  [MODIFY_DN_REQUEST]: { name: 'modify_dn', answered: true },
  [COMPARE_REQUEST]: { name: 'compare', answered: true },
  [ABANDON_REQUEST]: { name: 'abandon', answered: false },
  [EXTENDED_REQUEST]: { name: 'extended', answered: true },
};

/** Responses that end their request's exchange (a search's entries, references and intermediate responses do not). */
export const FINAL_RESPONSES: ReadonlySet<number> = new Set([
  BIND_RESPONSE, SEARCH_RESULT_DONE, MODIFY_RESPONSE, ADD_RESPONSE, DEL_RESPONSE, MODIFY_DN_RESPONSE, COMPARE_RESPONSE, EXTENDED_RESPONSE,
]);

/** resultCode names (RFC 4511 §4.1.9, RFC 3909, RFC 4528, RFC 4370, RFC 4533). */
export const RESULT_CODES: Readonly<Record<number, string>> = {
  0: 'success', 1: 'operationsError', 2: 'protocolError', 3: 'timeLimitExceeded', 4: 'sizeLimitExceeded',
  5: 'compareFalse', 6: 'compareTrue', 7: 'authMethodNotSupported', 8: 'strongerAuthRequired', 10: 'referral',
  11: 'adminLimitExceeded', 12: 'unavailableCriticalExtension', 13: 'confidentialityRequired', 14: 'saslBindInProgress',
  16: 'noSuchAttribute', 17: 'undefinedAttributeType', 18: 'inappropriateMatching', 19: 'constraintViolation',
  20: 'attributeOrValueExists', 21: 'invalidAttributeSyntax', 32: 'noSuchObject', 33: 'aliasProblem',
  34: 'invalidDNSyntax', 36: 'aliasDereferencingProblem', 48: 'inappropriateAuthentication', 49: 'invalidCredentials',
  50: 'insufficientAccessRights', 51: 'busy', 52: 'unavailable', 53: 'unwillingToPerform', 54: 'loopDetect',
  64: 'namingViolation', 65: 'objectClassViolation', 66: 'notAllowedOnNonLeaf', 67: 'notAllowedOnRDN',
  68: 'entryAlreadyExists', 69: 'objectClassModsProhibited', 71: 'affectsMultipleDSAs', 80: 'other',
  118: 'canceled', 119: 'noSuchOperation', 120: 'tooLate', 121: 'cannotCancel', 122: 'assertionFailed',
  123: 'authorizationDenied', 4096: 'syncRefreshRequired',
};

/** Result codes that are answers, not failures: a comparison's outcome, a referral, a SASL step. */
export const NOT_ERRORS: ReadonlySet<number> = new Set([0, 5, 6, 10, 14]);

export const SCOPES = ['base', 'one', 'sub', 'children'] as const;
export const DEREF = ['never', 'searching', 'finding', 'always'] as const;
export const MODIFY_OPERATIONS = ['add', 'delete', 'replace', 'increment'] as const;

export const OID_START_TLS = '1.3.6.1.4.1.1466.20037';
export const OID_NOTICE_OF_DISCONNECTION = '1.3.6.1.4.1.1466.20036';
export const OID_PASSWORD_MODIFY = '1.3.6.1.4.1.4203.1.11.1';
export const OID_WHO_AM_I = '1.3.6.1.4.1.4203.1.11.3';

/** Names of extended operations (RFC 4511, 3062, 4532, 3909, 4533 …) and controls seen in practice. */
export const OID_NAMES: Readonly<Record<string, string>> = {
  [OID_START_TLS]: 'StartTLS',
  [OID_NOTICE_OF_DISCONNECTION]: 'Notice of Disconnection',
  [OID_PASSWORD_MODIFY]: 'Password Modify',
  [OID_WHO_AM_I]: 'Who am I?',
  '1.3.6.1.1.8': 'Cancel',
  '1.3.6.1.4.1.4203.1.9.1.1': 'Sync Request',
  '1.3.6.1.1.21.1': 'Start Transaction',
  '1.3.6.1.1.21.3': 'End Transaction',
  '1.2.840.113556.1.4.319': 'Paged Results',
  '1.2.840.113556.1.4.473': 'Server Side Sort',
  '1.2.840.113556.1.4.474': 'Sort Response',
  '2.16.840.1.113730.3.4.2': 'ManageDsaIT',
  '2.16.840.1.113730.3.4.9': 'Virtual List View',
  '1.3.6.1.4.1.42.2.27.8.5.1': 'Password Policy',
  '1.3.6.1.1.12': 'Assertion',
  '1.3.6.1.1.13.1': 'Pre-Read',
  '1.3.6.1.1.13.2': 'Post-Read',
  '1.3.6.1.4.1.4203.1.10.1': 'Subentries',
  '1.2.840.113556.1.4.801': 'SD Flags',
  '1.2.840.113556.1.4.1339': 'Domain Scope',
  '1.2.840.113556.1.4.417': 'Show Deleted',
  '1.2.840.113556.1.4.528': 'Notification',
};

/**
 * Attributes whose values are credentials (RFC 4519's userPassword, Active Directory's unicodePwd,
 * Samba's hashes, Kerberos keys): their values are never kept, only counted with their sizes.
 */
export const SECRET_ATTRIBUTE = /^(?:userpassword|unicodepwd|dbcspwd|ntpwdhistory|lmpwdhistory|supplementalcredentials|sambantpassword|sambalmpassword|krbprincipalkey|krbextradata|authpassword|olcrootpw)(?:;.*)?$/i;
