/**
 * The validation kit of the config parsers: {@link ConfigError}, JSON-path building, the
 * `expect*` checks (each returns the value typed, or throws a ConfigError naming the path and
 * saying what was expected and what was found), {@link checkKeys} and {@link describe}.
 *
 * Pure functions, no I/O. Reasons never quote a value through {@link describeType}, the
 * describer for keys that may hold secrets.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";

/**
 * A config that cannot be used. `path` is the JSON path of the offending value
 * (e.g. `workers[0].realms[0].stats.trigger_on_joins`), `(root)` for the whole document and
 * `(file)` for problems reading or parsing the file; `reason` says what was expected and what
 * was found. The message is `"<path>: <reason>"`.
 */
export class ConfigError extends Error {
  /** Always `"ConfigError"`. */
  override name = "ConfigError";
  /** JSON path of the offending value, `(root)` or `(file)`. */
  readonly path: string;
  /** What was expected and what was found. */
  readonly reason: string;

  /**
   * Creates an error whose message is `"<path>: <reason>"`.
   *
   * @param path JSON path of the offending value.
   * @param reason What was expected and what was found.
   * @param options Standard error options (e.g. the underlying `cause`).
   */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(`${path}: ${reason}`, options);
    this.path = path;
    this.reason = reason;
  }
}

/**
 * A config that names a Crossbar feature that cannot work in this process (Python
 * authenticators, cfxdb stores, router links, MQTT, WSGI, template placeholders): a
 * {@link ConfigError} that also says which feature, so that tools can tell these apart from
 * mistakes.
 */
export class RefusedFeatureError extends ConfigError {
  /** The feature, e.g. `"mqtt transport"`. */
  readonly feature: string;

  /**
   * Creates the error; its message is `"<path>: <reason>"`, as for any ConfigError.
   *
   * @param path JSON path of the value that needs the feature.
   * @param feature The feature, e.g. `"mqtt transport"`.
   * @param reason Why it cannot work here, and what to do instead.
   */
  constructor(path: string, feature: string, reason: string) {
    super(path, reason);
    this.feature = feature;
  }
}

/** Path keys that print without brackets. */
const PLAIN_KEY = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** Root path in errors. */
export const ROOT = "(root)";

/** Keys of one object level: the accepted ones and those rejected with a specific reason. */
export interface KeySpec {
  /** The keys that work here. */
  readonly allowed: readonly string[];
  /** Keys refused here, each with its reason. */
  readonly rejected?: Readonly<Record<string, string>>;
  /**
   * Keys accepted with one warning, each with what Switchboard does instead (Crossbar keys that
   * have no routing meaning here).
   */
  readonly ignored?: Readonly<Record<string, string>>;
}

/** Looks up an environment variable for a `"$NAME"` secret: its value, or undefined. */
export type EnvLookup = (name: string) => string | undefined;

/** A key accepted without effect: its JSON path and what Switchboard does instead. */
export interface ConfigWarning {
  /** The key's JSON path, as written in the file. */
  readonly path: string;
  /** What Switchboard does instead. */
  readonly message: string;
}

/** What every parser gets besides its value and path. */
export interface ParseContext {
  /** Looks up the environment variable of each `"$NAME"` secret. */
  readonly env: EnvLookup;
  /** Collects a warning for a key accepted without effect. */
  warn(path: string, message: string): void;
  /**
   * The directory relative paths (TLS files, Unix sockets, static directories) resolve
   * against: the config file's; null resolves them against the working directory.
   */
  readonly baseDir: string | null;
  /**
   * Declares a file or directory the router reads when it serves (a TLS file, a static
   * directory), at JSON path `path`: `--check` looks for it and warns when it is missing,
   * where a start-up fails. Absent (the usual case), nothing is declared and the file is read
   * when serving.
   */
  readonly needsFile?: (path: string, file: string, kind: FileKind) => void;
}

/** What a config names with a path on disk: a file, or a directory. */
export type FileKind = "file" | "directory";

/** Appends an object key to a JSON path. */
export function keyPath(path: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${path === ROOT ? "" : path}[${JSON.stringify(key)}]`;
  return path === ROOT ? key : `${path}.${key}`;
}

/** Appends an array index to a JSON path. */
export function indexPath(path: string, index: number): string {
  return path === ROOT ? `[${index}]` : `${path}[${index}]`;
}

/** Short description of a found value for error reasons. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string": {
      const text = value.length > 60 ? `${value.slice(0, 57)}...` : value;
      return `string ${JSON.stringify(text)}`;
    }
    case "number":
      return Number.isInteger(value) ? `${value}` : `non-integer ${value}`;
    case "boolean":
      return `boolean ${value}`;
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

/**
 * The kind of a found value and nothing of its content, for reasons about keys that may hold
 * secrets (`got a number`): see `parseSecret` in auth.ts.
 */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "nothing";
  if (Array.isArray(value)) return "an array";
  switch (typeof value) {
    case "string":
      return value === "" ? "an empty string" : "a string";
    case "number":
      return "a number";
    case "boolean":
      return "a boolean";
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

/** A plain JSON-like object. */
export type Obj = Readonly<Record<string, unknown>>;

/** True for a plain object (a JSON object), not an array, null or a class instance. */
export function isObject(value: unknown): value is Obj {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The own property `key` of `obj`, or `undefined` when absent. */
export function own(obj: Obj, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** True when `obj` has its own property `key`. */
export function has(obj: Obj, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/**
 * `value` as an object, or a ConfigError at `path`. `show` describes a wrong value:
 * {@link describeType} where the value may be a secret.
 */
export function expectObject(value: unknown, path: string, show = describe): Obj {
  if (!isObject(value)) throw new ConfigError(path, `must be an object, got ${show(value)}`);
  return value;
}

/** `value` as an array, or a ConfigError at `path`. */
export function expectArray(value: unknown, path: string): readonly unknown[] {
  if (!Array.isArray(value)) {
    throw new ConfigError(path, `must be an array, got ${describe(value)}`);
  }
  return value;
}

/** `value` as a string, or a ConfigError at `path`. */
export function expectString(value: unknown, path: string): string {
  if (typeof value !== "string") {
    throw new ConfigError(path, `must be a string, got ${describe(value)}`);
  }
  return value;
}

/** `value` as a non-empty string, or a ConfigError at `path`. */
export function expectNonEmptyString(value: unknown, path: string): string {
  const text = expectString(value, path);
  if (text.length === 0) throw new ConfigError(path, 'must be a non-empty string, got ""');
  return text;
}

/** `value` as a boolean, or a ConfigError at `path`. */
export function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") {
    throw new ConfigError(path, `must be a boolean (true or false), got ${describe(value)}`);
  }
  return value;
}

/** `value` as a safe integer, or a ConfigError at `path`. */
export function expectInteger(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value)) {
    throw new ConfigError(path, `must be an integer, got ${describe(value)}`);
  }
  return value;
}

/** `obj[key]`, or a ConfigError at `path.key` when the key is absent. */
export function expectRequired(obj: Obj, key: string, path: string): unknown {
  if (!has(obj, key)) throw new ConfigError(keyPath(path, key), "is required but missing");
  return obj[key];
}

/**
 * Rejects keys that are not in `spec.allowed`, with the specific reason for known ones; keys
 * in `spec.ignored` are accepted with one warning each through `ctx`.
 */
export function checkKeys(obj: Obj, path: string, spec: KeySpec, ctx?: ParseContext): void {
  for (const key of Object.keys(obj)) {
    const rejected = spec.rejected;
    if (rejected !== undefined && Object.hasOwn(rejected, key)) {
      throw new ConfigError(keyPath(path, key), rejected[key]!);
    }
    const ignored = spec.ignored;
    if (ignored !== undefined && Object.hasOwn(ignored, key)) {
      if (ctx === undefined) {
        throw new TypeError(`checkKeys at ${path}: ignored keys need a context`);
      }
      ctx.warn(keyPath(path, key), ignored[key]!);
      continue;
    }
    if (!spec.allowed.includes(key)) {
      const expected = spec.allowed.length === 0 ? "none" : spec.allowed.join(", ");
      throw new ConfigError(
        keyPath(path, key),
        `unknown key, not supported by Switchboard (supported keys here: ${expected})`,
      );
    }
  }
}

/** `"a", "b" or "c"` for reasons. */
export function oneOf(values: readonly string[]): string {
  const quoted = values.map((v) => JSON.stringify(v));
  return quoted.length <= 1
    ? quoted.join("")
    : `${quoted.slice(0, -1).join(", ")} or ${quoted[quoted.length - 1]}`;
}

/**
 * A path from the config as the router opens it: absolute paths unchanged, relative ones
 * against {@link ParseContext.baseDir} (the config file's directory, as Crossbar resolves them
 * against `.crossbar/`), or the working directory when there is no file.
 */
export function resolvePath(ctx: ParseContext, path: string): string {
  if (isAbsolute(path) || ctx.baseDir === null) return path;
  return resolve(ctx.baseDir, path);
}
