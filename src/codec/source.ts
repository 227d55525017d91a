/**
 * Tiny helpers for building the JS source of generated functions.
 */

/** Values a generated function closes over, each bound to a parameter name of the factory. */
export class Refs {
  readonly names: string[] = [];
  readonly values: unknown[] = [];
  readonly #byValue = new Map<unknown, string>();

  /** Parameter name bound to `value` (one per distinct value). */
  ref(value: unknown, prefix: string): string {
    let name = this.#byValue.get(value);
    if (name === undefined) {
      name = `${prefix}${this.names.length}`;
      this.#byValue.set(value, name);
      this.names.push(name);
      this.values.push(value);
    }
    return name;
  }

  /** Bind `value` to the exact parameter name `name`. */
  fixed(name: string, value: unknown): void {
    this.#byValue.set(value, name);
    this.names.push(name);
    this.values.push(value);
  }

  /** Evaluate `body` (which must `return` the function) with the collected refs in scope. */
  build<F>(body: string): F {
    return new Function(...this.names, `"use strict";\n${body}`)(...this.values) as F;
  }
}

/** A JS string literal. */
export function lit(s: string): string {
  return JSON.stringify(s);
}

/** Property access `obj.name`, bracketed when `name` is not a plain identifier. */
export function prop(obj: string, name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `${obj}.${name}` : `${obj}[${lit(name)}]`;
}

/** A readable JS identifier fragment from a type name (for stack traces). */
export function fnName(prefix: string, typeName: string): string {
  return `${prefix}_${typeName.replace(/[^\w$]/g, "_")}`;
}
