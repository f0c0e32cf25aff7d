/**
 * The wire schema as the fuzzer sees it: every gRPC service and message of the package's `.proto`
 * files (`protoPackage()`, the same definitions the nodes serve), turned into plain descriptions
 * the generators walk. Nothing here knows synod's services by name: a service added to `proto/`
 * is fuzzed without a change here.
 */
import type * as protoLoader from '@grpc/proto-loader';
import { invariant } from '../../src/env/errors.js';
import { protoPackage } from '../../src/runtime/proto.js';

/** How a field's values are made: what the generators draw for it. */
export type FieldKind = 'string' | 'bytes' | 'bool' | 'uint' | 'int' | 'float' | 'enum' | 'message';

/** The protobuf wire type a field of `kind` travels as (0 varint, 1 fixed64, 2 length-delimited, 5 fixed32). */
export type WireType = 0 | 1 | 2 | 5;

export interface FieldSchema {
  readonly name: string;
  readonly number: number;
  readonly kind: FieldKind;
  readonly wireType: WireType;
  readonly repeated: boolean;
  /** The full name of the field's message type (kind `message`), else null. */
  readonly message: string | null;
  /** The oneof the field belongs to (e.g. `body`), else null. */
  readonly oneof: string | null;
}

export interface MessageSchema {
  /** Full name, e.g. `synod.paxos.Envelope`. */
  readonly name: string;
  readonly fields: readonly FieldSchema[];
}

export interface MethodSchema {
  readonly service: string;
  readonly name: string;
  /** The HTTP/2 path, e.g. `/synod.paxos.Paxos/Deliver`. */
  readonly path: string;
  /** Full name of the request message. */
  readonly request: string;
  /** A server-streaming method (`Subscribe`). */
  readonly serverStream: boolean;
  /** The request as protobuf bytes (throws for an object protobuf cannot take, e.g. a string where a message goes). */
  readonly serialize: (request: object) => Buffer;
  /** A request from protobuf bytes, as the serving node reads it. */
  readonly deserializeRequest: (bytes: Buffer) => Record<string, unknown>;
  /** An answer (or streamed message) from protobuf bytes, as the nodes' own clients read it. */
  readonly deserializeAnswer: (bytes: Buffer) => Record<string, unknown>;
}

export interface ServiceSchema {
  readonly name: string;
  readonly methods: readonly MethodSchema[];
}

const kindOfType: Record<string, [FieldKind, WireType]> = {
  TYPE_STRING: ['string', 2],
  TYPE_BYTES: ['bytes', 2],
  TYPE_MESSAGE: ['message', 2],
  TYPE_BOOL: ['bool', 0],
  TYPE_UINT32: ['uint', 0],
  TYPE_UINT64: ['uint', 0],
  TYPE_INT32: ['int', 0],
  TYPE_INT64: ['int', 0],
  TYPE_SINT32: ['int', 0],
  TYPE_SINT64: ['int', 0],
  TYPE_ENUM: ['enum', 0],
  TYPE_FIXED64: ['uint', 1],
  TYPE_SFIXED64: ['int', 1],
  TYPE_DOUBLE: ['float', 1],
  TYPE_FIXED32: ['uint', 5],
  TYPE_SFIXED32: ['int', 5],
  TYPE_FLOAT: ['float', 5],
};

/** A message type as proto-loader describes it (the parts read here). */
interface LoadedMessage {
  readonly type: {
    readonly field: ReadonlyArray<{ name: string; number: number; label: string; type: string; typeName: string }>;
    readonly oneofDecl: ReadonlyArray<{ name: string }>;
  };
  readonly serialize: (o: object) => Buffer;
  readonly deserialize: (b: Buffer) => Record<string, unknown>;
}

function isMessage(def: unknown): def is LoadedMessage {
  return typeof def === 'object' && def !== null && 'format' in def && 'type' in def && 'serialize' in def;
}

/** A sample value of a field, only to learn which oneof it is in (see `oneofOf`). */
function sample(kind: FieldKind): unknown {
  switch (kind) {
    case 'message': return {};
    case 'string': return 'x';
    case 'bytes': return Buffer.from([1]);
    case 'bool': return true;
    case 'float': return 1.5;
    default: return 1;
  }
}

/** Every service and message of the package's `.proto` files. */
export class WireSchema {
  readonly services: readonly ServiceSchema[];
  readonly #messages = new Map<string, MessageSchema>();

  private constructor(pkg: protoLoader.PackageDefinition) {
    for (const [name, def] of Object.entries(pkg)) {
      if (isMessage(def)) this.#messages.set(name, describeMessage(name, def));
    }
    const services: ServiceSchema[] = [];
    for (const [name, def] of Object.entries(pkg).sort(([a], [b]) => a.localeCompare(b))) {
      if (isMessage(def) || 'format' in def) continue; // a message or an enum
      const methods = Object.entries(def as protoLoader.ServiceDefinition).map(([method, m]): MethodSchema => {
        const request = `${packageOf(name)}.${(m.requestType.type as { name: string }).name}`;
        invariant(this.#messages.has(request), () => `request type ${request} of ${name}.${method} not found`);
        return {
          service: name,
          name: method,
          path: m.path,
          request,
          serverStream: m.responseStream,
          serialize: m.requestSerialize as (o: object) => Buffer,
          deserializeRequest: m.requestDeserialize as (b: Buffer) => Record<string, unknown>,
          deserializeAnswer: m.responseDeserialize as (b: Buffer) => Record<string, unknown>,
        };
      });
      services.push({ name, methods });
    }
    this.services = services;
  }

  /** The schema of the package's `proto/` (cached by `protoPackage`). */
  static load(): WireSchema {
    return new WireSchema(protoPackage());
  }

  message(name: string): MessageSchema {
    const m = this.#messages.get(name);
    invariant(m !== undefined, () => `no message ${name} in the schema`);
    return m;
  }

  service(name: string): ServiceSchema {
    const s = this.services.find((x) => x.name === name);
    invariant(s !== undefined, () => `no service ${name} in the schema`);
    return s;
  }

  /** The one method of a service with exactly one (every synod service but control). */
  method(service: string, name?: string): MethodSchema {
    const s = this.service(service);
    const m = name === undefined ? (s.methods.length === 1 ? s.methods[0] : undefined) : s.methods.find((x) => x.name === name);
    invariant(m !== undefined, () => `no method ${name ?? '(the only one)'} in ${service}`);
    return m;
  }
}

function packageOf(fullName: string): string {
  return fullName.slice(0, fullName.lastIndexOf('.'));
}

function describeMessage(name: string, def: LoadedMessage): MessageSchema {
  const pkg = packageOf(name);
  const oneofs = def.type.oneofDecl.map((o) => o.name);
  const fields = def.type.field.map((f): FieldSchema => {
    const known = kindOfType[f.type];
    invariant(known !== undefined, () => `${name}.${f.name}: field type ${f.type} is not known to the fuzzer`);
    const [kind, wireType] = known;
    const message = kind !== 'message' ? null : f.typeName.includes('.') ? f.typeName.replace(/^\./, '') : `${pkg}.${f.typeName}`;
    return { name: f.name, number: f.number, kind, wireType, repeated: f.label === 'LABEL_REPEATED', message, oneof: null };
  });
  return { name, fields: fields.map((f) => ({ ...f, oneof: oneofOf(def, f, oneofs) })) };
}

/**
 * The oneof a field belongs to. proto-loader's descriptors do not tell (every field says oneof
 * index 0), but its decoder names the member set (`oneofs: true`): a message with only this
 * field set comes back naming it under its oneof's name.
 */
function oneofOf(def: LoadedMessage, f: FieldSchema, oneofs: readonly string[]): string | null {
  if (oneofs.length === 0 || f.repeated) return null;
  const decoded = def.deserialize(def.serialize({ [f.name]: sample(f.kind) }));
  return oneofs.find((o) => decoded[o] === f.name) ?? null;
}
