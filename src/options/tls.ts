// Mutual TLS's tunables (src/runtime/tls-auth.ts): fixed constants, not per-node options, because
// they only bound memory and log volume and no deployment has a reason to differ.
export const tlsLimits = {
  /**
   * Most peer certificates a node keeps parsed (by SHA-256 fingerprint), so that a certificate is
   * parsed and its issuer checked once per connection lifetime rather than per call; beyond it the
   * oldest is forgotten (and parsed again when it comes back). 256: four times `limits.maxMembers`,
   * room for every member's and a crowd of clients' certificates.
   */
  maxCachedCertificates: 256,
  /**
   * A refusal (no certificate, a client certificate on a peer service, a certificate naming another
   * host than the sender claims) is logged at warn once per caller host and reason, then again at most
   * once per this interval with the count of refusals in between. 10 s: a misconfigured peer retries
   * many times a second, and one line in ten seconds says all there is to say.
   */
  refusalLogIntervalMs: 10_000,
  /** Most (caller host, reason) pairs whose last log time is kept; the oldest is forgotten beyond. 1024. */
  maxRefusalLogKeys: 1024,
  /**
   * Most sender ids one peer connection's certificate is remembered to name or not (each checked
   * once against the certificate's subjectAltNames). 16: a node sends under one id.
   */
  maxCheckedClaimsPerCaller: 16,
} as const;
