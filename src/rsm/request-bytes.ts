import type { Request } from './messages.js';

/**
 * The bytes a request holds where a replica keeps it (the primary's pipeline, a backup's buffer
 * of early invokes), as its byte budgets count them (`RsmOptions.maxInFlightBytes`,
 * `maxBufferedBytes`, `maxRetransmitBytes`): the length of its arguments as JSON text, plus its
 * client id and procedure name. What is counted is the text a request carries and is sent as,
 * not an estimate of the parsed object's heap size (which depends on the engine; the operations
 * guide states the factor between the two that memory budgets assume).
 *
 * Computed where a request is admitted or buffered, from the text it arrived as (`Request.argsText`).
 */
export function requestBytes(r: Request): number {
  return r.argsText.length + r.clientId.length + r.proc.length;
}
