/**
 * @vulcan/shared — everything the guest agent and its hosts agree on: named
 * constants, host configuration, wire types, framing and the host client.
 * Knows nothing of the agent's internals.
 */

export type { DialOptions, GuestConnection, RunOptions, Transport } from './client.js';
export { dialGuest, exchange, pingGuest, runOnGuest } from './client.js';
export * from './config.js';
export * from './constants.js';
export * from './errors.js';
export * from './framing.js';
export { goJSONStringify, goQuote } from './gojson.js';
export * from './protocol.js';
