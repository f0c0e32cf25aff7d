// How every district fills its unset options from its defaults and refuses bad values.

/**
 * Fills unset options from `defaults`, and refuses values of another type than the default's and
 * numbers that are not positive and finite.
 * An option given as `undefined` counts as unset (callers pass optional values straight through);
 * a key that is not an option is refused (a typo would otherwise leave the default in force).
 */
export function withDefaults<T extends object>(defaults: T, given: Partial<T> | undefined, what: string): T {
  const merged: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  for (const [key, value] of Object.entries(given ?? {})) {
    // A misspelt option must not be ignored in silence (the default would apply instead).
    if (!Object.hasOwn(merged, key)) throw new RangeError(`${what}.${key} is not an option; known: ${Object.keys(merged).join(', ')}`);
    if (value === undefined) continue;
    // Options may come from a file (`synod node --options`): "100" where 100 is meant must not pass.
    if (typeof value !== typeof merged[key]) {
      throw new RangeError(`${what}.${key} must be a ${typeof merged[key]}, got ${JSON.stringify(value)}`);
    }
    merged[key] = value;
  }
  for (const [key, value] of Object.entries(merged)) {
    if (typeof value === 'number' && !(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`${what}.${key} must be a positive number, got ${String(value)}`);
    }
  }
  return merged as T;
}
