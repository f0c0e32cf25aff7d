import type { NodeId } from '../env/types.js';

/**
 * Which app a node runs, as the cluster sees it: the app's name and its version. It travels in
 * every join request and is kept in the data directory, because the app is part of the cluster:
 * replicas of apps that disagree would execute one request stream into different states (or
 * refuse each other's procedures). A node without an app (Paxos and config only) has none: `null`.
 *
 * Compatibility (`compatibleApps`): the same name and the same version, exactly. Any change to a
 * handler, a procedure or the state format may make two replicas execute one request differently,
 * and a backup cannot refuse a request its primary already stamped: so replicas of one cluster run
 * one version, and nothing weaker is accepted (a rolling upgrade between versions would need the
 * primary to know what every backup can execute; synod does not do that yet). Two nodes without
 * an app are compatible; a node without an app and one with an app are not.
 */
export interface AppIdentity {
  /** 1-64 characters of `[a-z0-9._-]`, starting with a letter. */
  readonly name: string;
  /** `MAJOR.MINOR.PATCH`, each a decimal number without leading zeros (at most 9 digits). */
  readonly version: string;
}

/** Longest app name accepted (`AppIdentity.name`). */
export const maxAppNameLength = 64;

const namePattern = new RegExp(`^[a-z][a-z0-9._-]{0,${maxAppNameLength - 1}}$`);
const versionPart = '(0|[1-9][0-9]{0,8})';
const versionPattern = new RegExp(`^${versionPart}\\.${versionPart}\\.${versionPart}$`);

/** What is wrong with `name` as an app name, or null when it is a good one. */
export function appNameProblem(name: unknown): string | null {
  if (typeof name !== 'string') return 'must be a string';
  if (namePattern.test(name)) return null;
  return `${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name)} is not 1 to ${maxAppNameLength} characters of ` +
    'a-z 0-9 . _ - starting with a letter';
}

/** What is wrong with `version` as an app version, or null when it is a good one. */
export function appVersionProblem(version: unknown): string | null {
  if (typeof version !== 'string') return 'must be a string';
  if (versionPattern.test(version)) return null;
  return `${JSON.stringify(version.length > 80 ? `${version.slice(0, 80)}…` : version)} is not MAJOR.MINOR.PATCH ` +
    '(e.g. 1.0.0; numbers without leading zeros, at most 9 digits each)';
}

/** `name@version`, or `no app`: how identities are named in logs, errors and status pages. */
export function formatApp(app: AppIdentity | null): string {
  return app === null ? 'no app' : `${app.name}@${app.version}`;
}

/** Whether replicas of `a` and `b` may share a state and a request stream (see `AppIdentity`). */
export function compatibleApps(a: AppIdentity | null, b: AppIdentity | null): boolean {
  if (a === null || b === null) return a === b;
  return a.name === b.name && a.version === b.version;
}

/** Why two identities cannot share a cluster, in two words: `another app` or `another version`. */
export function describeMismatch(a: AppIdentity | null, b: AppIdentity | null): string {
  return a !== null && b !== null && a.name === b.name ? 'another version' : 'another app';
}

/**
 * A member of the cluster refused this node's join because the two run incompatible apps. The
 * node can never become a member; it stops. `app` is this node's identity, `clusterApp` the
 * refusing member's (the cluster's).
 */
export class JoinRefusedError extends Error {
  override readonly name = 'JoinRefusedError';
  constructor(
    readonly node: NodeId,
    readonly app: AppIdentity | null,
    readonly by: NodeId,
    readonly vid: number,
    readonly clusterApp: AppIdentity | null,
  ) {
    const remedy = clusterApp === null ? 'no app' : `the cluster's app (${formatApp(clusterApp)})`;
    super(`node ${node} runs ${formatApp(app)}, but the cluster it asked to join runs ${formatApp(clusterApp)} ` +
      `(${describeMismatch(clusterApp, app)}; refused by ${by}, a member of view ${vid}). A node joins only a cluster ` +
      `of the same app and version: run it with ${remedy}, or make it a cluster of its own (--first its own ` +
      'address, a fresh --data-dir).');
  }
}
