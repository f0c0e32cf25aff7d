/**
 * A read-only view of an app's state, for queries (`App.queries`): a lazy, deep Proxy that lets a
 * query read anything and refuses every change it can see. Made once per query run: its cache
 * (one proxy per object reached, so `view.a === view.a`) and its record of what was attempted
 * belong to that one run and are dropped with it.
 *
 * What it refuses (each attempt throws `QueryMutationError` and is kept in `attempted`, so a query
 * that catches the throw and carries on is still a query that tried):
 * - property writes, definitions, deletions, prototype changes and `Object.freeze`/`preventExtensions`
 *   on any object reached (array mutators such as `push`, `splice` and `sort` reach these traps);
 * - `Map` `set`/`delete`/`clear`, `Set` `add`/`delete`/`clear`;
 * - typed-array `fill`/`set`/`copyWithin`/`sort`/`reverse`, `DataView` setters, `ArrayBuffer`
 *   `resize`/`transfer`.
 *
 * Objects with internal slots (Map, Set, typed arrays, Date, …) cannot run their methods on a
 * Proxy, so their other methods run bound to the object itself, and what they return is wrapped.
 * The limits (what it cannot see): such a bound method that changes its object (a `Date`'s
 * setters, a `RegExp`'s `lastIndex` moved by `exec`), a non-writable, non-configurable property
 * (a frozen object's, which a Proxy must hand out as it is), and methods that reach `#private`
 * fields (they throw on a Proxy: the query fails). The simulator's byte comparison
 * (`AppGuardOptions.verifyQueries`) catches the changes.
 */

/** A query tried to change the state; `attempt` says what, e.g. `call Map.set on state.counters`. */
export class QueryMutationError extends Error {
  override readonly name = 'QueryMutationError';
  constructor(readonly attempt: string) {
    super(`a query may not change the state: it tried to ${attempt}`);
  }
}

/** One read-only view of a state (`readOnlyView`). */
export interface ReadOnlyView<T> {
  /** The state as the query sees it (the state itself when it is not an object). */
  readonly state: T;
  /** The first change the query attempted (see `QueryMutationError.attempt`); null: none. */
  readonly attempted: string | null;
}

const mapMutators: ReadonlySet<PropertyKey> = new Set(['set', 'delete', 'clear']);
const setMutators: ReadonlySet<PropertyKey> = new Set(['add', 'delete', 'clear']);
const typedArrayMutators: ReadonlySet<PropertyKey> = new Set(['fill', 'set', 'copyWithin', 'sort', 'reverse']);
const bufferMutators: ReadonlySet<PropertyKey> = new Set(['resize', 'transfer', 'transferToFixedLength']);
/** Methods of Map and Set that return iterators: their values are wrapped as they come. */
const iteratorMethods: ReadonlySet<PropertyKey> = new Set(['entries', 'keys', 'values', Symbol.iterator]);

/** The mutators of `target` by its kind, or null when it is an ordinary object (its traps suffice). */
function slotKind(target: object): { readonly kind: string; readonly mutators: (key: PropertyKey) => boolean } | null {
  if (target instanceof Map) return { kind: 'Map', mutators: (k) => mapMutators.has(k) };
  if (target instanceof Set) return { kind: 'Set', mutators: (k) => setMutators.has(k) };
  if (ArrayBuffer.isView(target)) {
    if (target instanceof DataView) return { kind: 'DataView', mutators: (k) => typeof k === 'string' && k.startsWith('set') };
    return { kind: target.constructor.name, mutators: (k) => typedArrayMutators.has(k) };
  }
  if (target instanceof ArrayBuffer) return { kind: 'ArrayBuffer', mutators: (k) => bufferMutators.has(k) };
  // Other built-ins whose methods need their own object as `this` (their changes are not seen).
  if (target instanceof Date || target instanceof RegExp || target instanceof WeakMap || target instanceof WeakSet || target instanceof Promise) {
    return { kind: target.constructor.name, mutators: () => false };
  }
  return null;
}

const isObject = (v: unknown): v is object => (typeof v === 'object' && v !== null);

/** `key` as a path segment: `.name` for plain names, `["odd key"]` or `[Symbol(x)]` otherwise (cut to 40 characters). */
function segment(key: PropertyKey): string {
  if (typeof key === 'symbol') return `[${String(key)}]`;
  const text = String(key);
  if (/^[0-9]+$/.test(text)) return `[${text}]`;
  if (/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(text) && text.length <= 40) return `.${text}`;
  return `[${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text)}]`;
}

/**
 * `state` behind a fresh read-only view (see the module comment). Nothing is copied: each object
 * is wrapped when the query first reaches it. Functions are handed out as they are (a method
 * called on a wrapped object gets the wrapped object as `this`, so its writes are refused too).
 */
export function readOnlyView<T>(state: T): ReadOnlyView<T> {
  const proxies = new WeakMap<object, object>();
  let attempted: string | null = null;
  const refuse = (attempt: string): never => {
    attempted ??= attempt;
    throw new QueryMutationError(attempt);
  };

  const wrap = (value: unknown, where: () => string): unknown => {
    if (!isObject(value)) return value;
    const known = proxies.get(value);
    if (known !== undefined) return known;
    const proxy = new Proxy(value, handlerFor(value, where));
    proxies.set(value, proxy);
    return proxy;
  };

  const handlerFor = (target: object, where: () => string): ProxyHandler<object> => {
    const slots = slotKind(target);
    const at = (key: PropertyKey) => (): string => `${where()}${segment(key)}`;
    return {
      get(t, key, receiver) {
        if (slots !== null) return slotMember(t, key, slots);
        const value: unknown = Reflect.get(t, key, receiver);
        if (!isObject(value)) return value;
        // A Proxy must return a non-writable, non-configurable data property as it is.
        const own = Reflect.getOwnPropertyDescriptor(t, key);
        if (own !== undefined && own.configurable === false && own.writable === false) return value;
        return wrap(value, at(key));
      },
      getOwnPropertyDescriptor(t, key) {
        const own = Reflect.getOwnPropertyDescriptor(t, key);
        if (own === undefined || !('value' in own) || !isObject(own.value)) return own;
        if (own.configurable === false && own.writable === false) return own;
        return { ...own, value: wrap(own.value, at(key)) };
      },
      set: (_t, key) => refuse(`set ${where()}${segment(key)}`),
      defineProperty: (_t, key) => refuse(`define ${where()}${segment(key)}`),
      deleteProperty: (_t, key) => refuse(`delete ${where()}${segment(key)}`),
      setPrototypeOf: () => refuse(`change the prototype of ${where()}`),
      preventExtensions: () => refuse(`freeze or seal ${where()}`),
    };

    /** A member of an object with internal slots: mutators refused, methods bound to it, results wrapped. */
    function slotMember(t: object, key: PropertyKey, s: NonNullable<ReturnType<typeof slotKind>>): unknown {
      const value: unknown = Reflect.get(t, key, t);
      if (typeof value !== 'function') return wrap(value, at(key));
      const method = value as (...args: unknown[]) => unknown;
      if (s.mutators(key)) return (): never => refuse(`call ${s.kind}${segment(key)} on ${where()}`);
      const result = (): string => `${where()}${segment(key)}(…)`;
      // A typed array's iterators yield numbers (or fresh [index, number] pairs): nothing to wrap,
      // and an iterator behind a Proxy could not run its own `next`.
      if (ArrayBuffer.isView(t) && iteratorMethods.has(key)) return method.bind(t);
      if ((t instanceof Map || t instanceof Set) && iteratorMethods.has(key)) {
        return function* wrappedIterator(): Generator<unknown> {
          for (const item of method.call(t) as Iterable<unknown>) yield wrap(item, result);
        };
      }
      if ((t instanceof Map || t instanceof Set) && key === 'forEach') {
        return (fn: (v: unknown, k: unknown, c: unknown) => void, thisArg?: unknown): void => {
          const self = wrap(t, where);
          (t as Map<unknown, unknown>).forEach((v, k) => fn.call(thisArg, wrap(v, result), wrap(k, result), self));
        };
      }
      if (ArrayBuffer.isView(t) || t instanceof ArrayBuffer) {
        // Only a view on the same memory (`subarray`) is the state; `slice`, `map` and the rest
        // return fresh copies, which the query may change as it likes.
        const buffer = ArrayBuffer.isView(t) ? t.buffer : t;
        return (...args: unknown[]): unknown => {
          const r = method.apply(t, args);
          return ArrayBuffer.isView(r) && r.buffer === buffer ? wrap(r, result) : r;
        };
      }
      return (...args: unknown[]): unknown => wrap(method.apply(t, args), result);
    }
  };

  return {
    state: wrap(state, () => 'state') as T,
    get attempted() {
      return attempted;
    },
  };
}
