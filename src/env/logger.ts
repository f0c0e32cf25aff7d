/**
 * The structured logger the cores write to: the subset of pino's API that synod uses, so that
 * production passes a pino logger straight through and the simulator passes one that writes
 * into the run's trace. Every protocol line carries the node id (bound with `child`) and the
 * layer's position (Paxos instance; config vid; RSM viewstamp) in its fields.
 */
export interface Logger {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
  child(bindings: object): Logger;
}

/** A logger that drops everything (for tests that do not look at logs). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
