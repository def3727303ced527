/**
 * The recorder of src/cli/lean.ts: the part of commander's builder API the group modules use
 * (command, argument, option, addOption, createOption, createArgument, action…), keeping each
 * command's arguments, options and action. Any other builder method marks the command (or
 * option) opaque: the lean path then leaves it to commander. No imports.
 */

/** Thrown inside the parse: this argument vector is commander's to handle. */
export const BAIL = new Error("not for the lean path");

export type Parser = (value: string, previous: unknown) => unknown;
export type Action = (...args: unknown[]) => unknown;

/** One option as commander reads its flags (`-s, --state <state>`). */
export class LeanOption {
  short?: string;
  long?: string;
  required = false; // <value>
  optional = false; // [value]
  variadic = false;
  negate = false;
  mandatory = false;
  parseArg?: Parser;
  defaultValue?: unknown;
  argChoices?: readonly string[];
  conflictsWith: string[] = [];
  /** A builder method this recorder does not know was used: commander handles the command. */
  opaque = false;

  constructor(readonly flags: string, readonly description = "") {
    const parts = flags.split(/[ |,]+/).filter(Boolean);
    for (const p of parts) {
      if (/^--[\w-]+$/.test(p) && !this.long) this.long = p;
      else if (/^-[^-]$/.test(p) && !this.short) this.short = p;
      else if (/^<[^>]+>$/.test(p)) this.required = true;
      else if (/^\[[^\]]+\]$/.test(p)) this.optional = true;
      else this.opaque = true;
    }
    if (/\.\.\.[>\]]/.test(flags)) this.variadic = true;
    if (this.long?.startsWith("--no-")) this.negate = true;
    if (!this.long && !this.short) this.opaque = true;
  }

  name(): string {
    return this.long ? this.long.slice(2) : this.short!.slice(1);
  }

  attributeName(): string {
    const n = this.negate ? this.name().replace(/^no-/, "") : this.name();
    return n.split("-").reduce((s, w) => s + w[0].toUpperCase() + w.slice(1));
  }

  is(arg: string): boolean {
    return this.short === arg || this.long === arg;
  }

  default(value: unknown) {
    this.defaultValue = value;
    return this;
  }

  choices(values: readonly string[]) {
    this.argChoices = [...values];
    return this;
  }

  conflicts(names: string | string[]) {
    this.conflictsWith.push(...[names].flat());
    return this;
  }

  argParser(fn: Parser) {
    this.parseArg = fn;
    return this;
  }

  makeOptionMandatory(on = true) {
    this.mandatory = on;
    return this;
  }
}

/** One command argument (`<agent>`, `[agents...]`), as `argument()` or `createArgument()` give it. */
export class LeanArgument {
  name = "";
  required = false;
  variadic = false;
  parseArg?: Parser;
  defaultValue?: unknown;
  opaque = false;

  constructor(spec: string, _description?: string) {
    const m = /^([<[])(.+?)(\.\.\.)?[>\]]$/.exec(spec);
    if (!m) this.opaque = true;
    else [this.required, this.name, this.variadic] = [m[1] === "<", m[2], !!m[3]];
  }

  default(value: unknown) {
    this.defaultValue = value;
    return this;
  }

  argParser(fn: Parser) {
    this.parseArg = fn;
    return this;
  }

  /** As commander: a value outside the choices is refused (here: left to commander). */
  choices(values: readonly string[]) {
    const allowed = [...values];
    this.parseArg = (v: string, previous: unknown) => {
      if (!allowed.includes(v)) throw BAIL;
      if (!this.variadic) return v;
      return previous === this.defaultValue || !Array.isArray(previous) ? [v] : [...previous, v];
    };
    return this;
  }
}

/** Records anything else on an object: marks it opaque and chains. */
function recorder<T extends { opaque: boolean }>(target: T): T {
  const proxy: T = new Proxy(target, {
    get(t, prop, receiver) {
      if (prop in t || typeof prop !== "string" || prop === "then") {
        return Reflect.get(t, prop, receiver);
      }
      return () => {
        t.opaque = true;
        return proxy;
      };
    },
  });
  return proxy;
}

/** The commander API the group modules build commands with, recorded (see the module doc). */
export class LeanCommand {
  readonly commands: LeanCommand[] = [];
  readonly options: LeanOption[] = [];
  readonly registeredArguments: LeanArgument[] = [];
  actionHandler?: Action;
  opaque = false;
  parent?: LeanCommand;
  /** Option values and where each came from ("default" or "cli"), as commander keeps them. */
  readonly values: Record<string, unknown> = {};
  readonly sources: Record<string, string> = {};

  constructor(readonly commandName: string) {}

  static create(name: string): LeanCommand {
    return recorder(new LeanCommand(name));
  }

  name(): string {
    return this.commandName;
  }

  command(nameAndArgs: string, ...rest: unknown[]) {
    const [name, ...args] = nameAndArgs.split(/ +/);
    const sub = LeanCommand.create(name);
    sub.parent = this;
    // A description here makes an executable subcommand; of the options, only hiding is plain.
    const [opts, ...more] = rest;
    const plain = opts === undefined ||
      (typeof opts === "object" && opts !== null &&
        Object.keys(opts).every((k) => k === "hidden"));
    if (!plain || more.length) sub.opaque = true;
    for (const a of args) sub.argument(a);
    this.commands.push(sub);
    return sub;
  }

  description(_text?: string) {
    return this;
  }

  argument(spec: string, description?: string, fn?: unknown, defaultValue?: unknown) {
    const a = new LeanArgument(spec, description);
    if (typeof fn === "function") a.argParser(fn as Parser).default(defaultValue);
    else a.default(fn);
    return this.addArgument(a);
  }

  createArgument(spec: string, description?: string) {
    return recorder(new LeanArgument(spec, description));
  }

  addArgument(a: LeanArgument) {
    if (!(a instanceof LeanArgument) || a.opaque) this.opaque = true;
    else this.registeredArguments.push(a);
    return this;
  }

  createOption(flags: string, description?: string) {
    return recorder(new LeanOption(flags, description));
  }

  option(flags: string, description?: string, fn?: unknown, defaultValue?: unknown) {
    const o = new LeanOption(flags, description);
    if (typeof fn === "function") {
      o.parseArg = fn as Parser;
      o.defaultValue = defaultValue;
    } else o.defaultValue = fn;
    return this.addOption(o);
  }

  requiredOption(flags: string, description?: string, fn?: unknown, defaultValue?: unknown) {
    this.option(flags, description, fn, defaultValue);
    this.options[this.options.length - 1].mandatory = true;
    return this;
  }

  addOption(o: LeanOption) {
    if (!(o instanceof LeanOption) || o.opaque) {
      this.opaque = true;
      return this;
    }
    // `--no-x` with `--x` as well: which one wins depends on order; commander handles those.
    const twin = o.negate ? `--${o.long!.slice(5)}` : `--no-${o.long?.slice(2)}`;
    if (this.findOption(twin)) this.opaque = true;
    this.options.push(o);
    // As commander: a lone `--no-x` makes x default to true.
    const value = o.negate ? o.defaultValue ?? true : o.defaultValue;
    if (value !== undefined) this.setValue(o, value, "default");
    return this;
  }

  action(fn: Action) {
    this.actionHandler = fn;
    return this;
  }

  opts(): Record<string, unknown> {
    return this.values;
  }

  /** As commander: the command's options, then each ancestor's over them. */
  optsWithGlobals(): Record<string, unknown> {
    const all: Record<string, unknown> = { ...this.opts() };
    for (let c = this.parent; c; c = c.parent) Object.assign(all, c.opts());
    return all;
  }

  setValue(o: LeanOption, value: unknown, source: string) {
    this.values[o.attributeName()] = value;
    this.sources[o.attributeName()] = source;
  }

  findOption(arg: string): LeanOption | undefined {
    return this.options.find((o) => o.is(arg));
  }

  /** commander's option event: a value through its parser, else true for a flag. */
  setFromCli(o: LeanOption, value?: string) {
    if (o.argChoices && value !== undefined && !o.argChoices.includes(value)) throw BAIL;
    let v: unknown = value;
    if (value !== undefined && o.parseArg) {
      try {
        v = o.parseArg(value, this.values[o.attributeName()]);
      } catch {
        throw BAIL; // commander words the refusal
      }
    }
    this.setValue(o, o.negate ? false : v ?? true, "cli");
  }
}
