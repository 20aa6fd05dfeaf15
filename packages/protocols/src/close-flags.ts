/**
 * The flag an exchange cut short by its connection's end carries, by how the
 * connection ended: one table for every parser, so the same end reads the
 * same in every protocol's events.
 */
import type { CloseReason } from '@panopticon/flows';

export const CLOSE_FLAG: Readonly<Record<CloseReason, string>> = { fin: 'closed', rst: 'reset', idle: 'timeout', evicted: 'evicted', end: 'eof' };
