import type { NodeId } from './types.js';

/**
 * The name of a cluster whose first node is `first` when its nodes are given no `--cluster`
 * (`cluster` option): `synod@<first>`. Every message and call carries the cluster's name, and a
 * node refuses another cluster's, naming its own.
 */
export function defaultClusterName(first: NodeId): string {
  return `synod@${first}`;
}
