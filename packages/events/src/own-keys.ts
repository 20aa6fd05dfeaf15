/**
 * Objects keyed by names that come off the wire or out of an event (AMQP
 * field tables, RESP3 maps, HTTP/2 and gRPC-Web fields in the parsers; JSON
 * keys and header names in pano-pii and pano-export). `obj[key] = v` with key `__proto__` does not make a property: it
 * sets the object's prototype (or, for a string, does nothing), so that
 * entry vanished from the event. Defining it makes it an own property like
 * any other, which JSON.stringify writes.
 */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  else obj[key] = value;
}
