/**
 * MQTT 3.1, 3.1.1 and 5.0 numbers: control packet types (3.1.1 §2.2.1,
 * 5.0 §2.1.2), property identifiers with their data types (5.0 §2.2.2.2) and
 * reason codes (5.0 §2.4; 3.1.1's CONNACK return codes, §3.2.2.3).
 */

export const CONNECT = 1;
export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const PUBREC = 5;
export const PUBREL = 6;
export const PUBCOMP = 7;
export const SUBSCRIBE = 8;
export const SUBACK = 9;
export const UNSUBSCRIBE = 10;
export const UNSUBACK = 11;
export const PINGREQ = 12;
export const PINGRESP = 13;
export const DISCONNECT = 14;
export const AUTH = 15;

export const PACKET_NAMES = [
  'RESERVED', 'CONNECT', 'CONNACK', 'PUBLISH', 'PUBACK', 'PUBREC', 'PUBREL', 'PUBCOMP',
  'SUBSCRIBE', 'SUBACK', 'UNSUBSCRIBE', 'UNSUBACK', 'PINGREQ', 'PINGRESP', 'DISCONNECT', 'AUTH',
] as const;

/**
 * The flags nibble each packet type must carry (3.1.1 §2.2.2, 5.0 §2.1.3);
 * -1 for PUBLISH, whose flags are DUP, QoS and RETAIN. A mismatch is a
 * malformed packet, and what tells MQTT from other bytes mid-stream.
 */
export const FIXED_FLAGS = [-2, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];

/** CONNECT's protocol level byte → the version it names. */
export const VERSIONS: Record<number, string> = { 3: '3.1', 4: '3.1.1', 5: '5.0' };

/** Property value types (5.0 §1.5). */
export const enum PropType {
  Byte,
  U16,
  U32,
  VarInt,
  Utf8,
  Binary,
  Pair,
}

/** Property identifier → name (snake_case of the specification's) and type. */
export const PROPERTIES: Record<number, [string, PropType]> = {
  0x01: ['payload_format_indicator', PropType.Byte],
  0x02: ['message_expiry_interval', PropType.U32],
  0x03: ['content_type', PropType.Utf8],
  0x08: ['response_topic', PropType.Utf8],
  0x09: ['correlation_data', PropType.Binary],
  0x0b: ['subscription_identifier', PropType.VarInt],
  0x11: ['session_expiry_interval', PropType.U32],
  0x12: ['assigned_client_identifier', PropType.Utf8],
  0x13: ['server_keep_alive', PropType.U16],
  0x15: ['authentication_method', PropType.Utf8],
  0x16: ['authentication_data', PropType.Binary],
  0x17: ['request_problem_information', PropType.Byte],
  0x18: ['will_delay_interval', PropType.U32],
  0x19: ['request_response_information', PropType.Byte],
  0x1a: ['response_information', PropType.Utf8],
  0x1c: ['server_reference', PropType.Utf8],
  0x1f: ['reason_string', PropType.Utf8],
  0x21: ['receive_maximum', PropType.U16],
  0x22: ['topic_alias_maximum', PropType.U16],
  0x23: ['topic_alias', PropType.U16],
  0x24: ['maximum_qos', PropType.Byte],
  0x25: ['retain_available', PropType.Byte],
  0x26: ['user_property', PropType.Pair],
  0x27: ['maximum_packet_size', PropType.U32],
  0x28: ['wildcard_subscription_available', PropType.Byte],
  0x29: ['subscription_identifier_available', PropType.Byte],
  0x2a: ['shared_subscription_available', PropType.Byte],
};

/** MQTT 5 reason codes (§2.4), in lower snake_case. 0x00 is `success` except where the packet gives it another name. */
export const REASON_NAMES: Record<number, string> = {
  0x00: 'success',
  0x01: 'granted_qos_1',
  0x02: 'granted_qos_2',
  0x04: 'disconnect_with_will_message',
  0x10: 'no_matching_subscribers',
  0x11: 'no_subscription_existed',
  0x18: 'continue_authentication',
  0x19: 're_authenticate',
  0x80: 'unspecified_error',
  0x81: 'malformed_packet',
  0x82: 'protocol_error',
  0x83: 'implementation_specific_error',
  0x84: 'unsupported_protocol_version',
  0x85: 'client_identifier_not_valid',
  0x86: 'bad_user_name_or_password',
  0x87: 'not_authorized',
  0x88: 'server_unavailable',
  0x89: 'server_busy',
  0x8a: 'banned',
  0x8b: 'server_shutting_down',
  0x8c: 'bad_authentication_method',
  0x8d: 'keep_alive_timeout',
  0x8e: 'session_taken_over',
  0x8f: 'topic_filter_invalid',
  0x90: 'topic_name_invalid',
  0x91: 'packet_identifier_in_use',
  0x92: 'packet_identifier_not_found',
  0x93: 'receive_maximum_exceeded',
  0x94: 'topic_alias_invalid',
  0x95: 'packet_too_large',
  0x96: 'message_rate_too_high',
  0x97: 'quota_exceeded',
  0x98: 'administrative_action',
  0x99: 'payload_format_invalid',
  0x9a: 'retain_not_supported',
  0x9b: 'qos_not_supported',
  0x9c: 'use_another_server',
  0x9d: 'server_moved',
  0x9e: 'shared_subscriptions_not_supported',
  0x9f: 'connection_rate_exceeded',
  0xa0: 'maximum_connect_time',
  0xa1: 'subscription_identifiers_not_supported',
  0xa2: 'wildcard_subscriptions_not_supported',
};

/** MQTT 3.1 and 3.1.1 CONNACK return codes (3.1.1 §3.2.2.3). */
export const CONNACK_V3_NAMES: Record<number, string> = {
  0: 'accepted',
  1: 'unacceptable_protocol_version',
  2: 'identifier_rejected',
  3: 'server_unavailable',
  4: 'bad_user_name_or_password',
  5: 'not_authorized',
};

/** MQTT 3.1.1 SUBACK return codes: the granted QoS, or 0x80 (§3.9.3). */
export const SUBACK_V3_NAMES: Record<number, string> = { 0: 'granted_qos_0', 1: 'granted_qos_1', 2: 'granted_qos_2', 0x80: 'failure' };

/** The name of reason code `code` in a packet of type `type` (0x00 is named by what it grants or ends). */
export function reasonName(type: number, code: number, v5: boolean): string {
  if (!v5) {
    if (type === CONNACK) return CONNACK_V3_NAMES[code] ?? `0x${code.toString(16).padStart(2, '0')}`;
    if (type === SUBACK) return SUBACK_V3_NAMES[code] ?? `0x${code.toString(16).padStart(2, '0')}`;
  }
  if (code === 0) {
    if (type === SUBACK) return 'granted_qos_0';
    if (type === DISCONNECT) return 'normal_disconnection';
  }
  return REASON_NAMES[code] ?? `0x${code.toString(16).padStart(2, '0')}`;
}

/** A reason code that says the request failed: 0x80 and above (5.0 §2.4; 3.1.1 SUBACK's 0x80; a non-zero 3.1.1 CONNACK). */
export function isFailure(type: number, code: number, v5: boolean): boolean {
  if (!v5 && type === CONNACK) return code !== 0;
  return code >= 0x80;
}
