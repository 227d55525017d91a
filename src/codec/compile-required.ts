/**
 * Generates `missingRequired` per message type: the path of the first proto2 `required`
 * (or editions LEGACY_REQUIRED) field that is not set, searching nested messages too.
 */
import type { DescField, DescMessage } from "@bufbuild/protobuf";
import { explicitSet } from "./compile-encoder.js";
import { createShape, PRESENCE_REQUIRED, usesJsonLocal } from "./desc-info.js";
import { fnName, lit, prop, Refs } from "./source.js";
import type { RequiredFn, Unit } from "./unit.js";

const none: RequiredFn = () => undefined;

/** Compile the required-field check of `desc`. */
export function compileRequired(desc: DescMessage, unitOf: (d: DescMessage) => Unit): RequiredFn {
  if (!needsCheck(desc)) return none;
  const refs = new Refs();
  refs.fixed("hop", Object.prototype.hasOwnProperty);
  const proto = createShape(desc).proto;
  const lines: string[] = ["let v, r;"];
  const child = (f: DescField): string | undefined =>
    f.message !== undefined && !usesJsonLocal(f) && needsCheck(f.message)
      ? refs.ref(unitOf(f.message), "u")
      : undefined;
  for (const f of desc.fields) {
    const path = lit(f.name);
    const u = child(f);
    const nested = (value: string, prefix: string): string =>
      `r = ${u}.req(${value}); if (r !== undefined) return ${prefix} + "." + r;`;
    if (f.oneof !== undefined) {
      if (u !== undefined) {
        lines.push(
          `v = ${prop("m", f.oneof.localName)};`,
          `if (v != null && v.case === ${lit(f.localName)} && v.value != null) { ${nested("v.value", path)} }`,
        );
      }
      continue;
    }
    const load = `v = ${prop("m", f.localName)};`;
    if (f.presence === PRESENCE_REQUIRED) {
      lines.push(load, `if (!(${explicitSet(proto, f, "m", "v", refs)})) return ${path};`);
      if (u !== undefined && f.fieldKind === "message") lines.push(nested("v", path));
      continue;
    }
    if (u === undefined) continue;
    switch (f.fieldKind) {
      case "message":
        lines.push(load, `if (v != null) { ${nested("v", path)} }`);
        break;
      case "list":
        lines.push(
          load,
          `if (v != null) for (let i = 0; i < v.length; i++) { ${nested("v[i]", `${path} + "[" + i + "]"`)} }`,
        );
        break;
      case "map":
        lines.push(
          load,
          `if (v != null) for (const k of Object.keys(v)) { const e = v[k]; if (e != null) { ${nested("e", `${path} + "[" + k + "]"`)} } }`,
        );
        break;
    }
  }
  lines.push("return undefined;");
  return refs.build<RequiredFn>(
    `return function ${fnName("required", desc.typeName)}(m) {\n${lines.join("\n")}\n};`,
  );
}

/** Interpreted equivalent of {@link compileRequired}, for when code generation is disallowed. */
export function walkRequired(desc: DescMessage, unitOf: (d: DescMessage) => Unit): RequiredFn {
  if (!needsCheck(desc)) return none;
  const proto = createShape(desc).proto;
  const isSet = (m: Record<string, unknown>, f: DescField, v: unknown): boolean =>
    v != null && (proto === undefined || !Object.hasOwn(proto, f.localName) || Object.hasOwn(m, f.localName));
  const fields = desc.fields.map((f) => ({
    f,
    u: f.message !== undefined && !usesJsonLocal(f) && needsCheck(f.message) ? unitOf(f.message) : undefined,
  }));
  return (msg) => {
    const m = msg as Record<string, unknown>;
    for (const { f, u } of fields) {
      const sub = (v: unknown, path: string): string | undefined => {
        const r = u?.req(v);
        return r === undefined ? undefined : `${path}.${r}`;
      };
      let r: string | undefined;
      if (f.oneof !== undefined) {
        const o = m[f.oneof.localName] as { case?: string; value?: unknown } | undefined;
        if (o?.case === f.localName && o.value != null) r = sub(o.value, f.name);
      } else {
        const v = m[f.localName];
        if (f.presence === PRESENCE_REQUIRED && !isSet(m, f, v)) return f.name;
        if (v != null && u !== undefined) {
          if (f.fieldKind === "message") r = sub(v, f.name);
          else if (f.fieldKind === "list") {
            const list = v as unknown[];
            for (let i = 0; i < list.length && r === undefined; i++) r = sub(list[i], `${f.name}[${i}]`);
          } else if (f.fieldKind === "map") {
            const map = v as Record<string, unknown>;
            for (const k of Object.keys(map)) {
              if (map[k] != null) r = sub(map[k], `${f.name}[${k}]`);
              if (r !== undefined) break;
            }
          }
        }
      }
      if (r !== undefined) return r;
    }
    return undefined;
  };
}

const memo = new WeakMap<DescMessage, boolean>();

/** Does `desc`, or any message reachable through its fields, have a required field? */
function needsCheck(desc: DescMessage): boolean {
  const known = memo.get(desc);
  if (known !== undefined) return known;
  // Collect the reachable types, then propagate to a fixed point (types can be recursive).
  const reach: DescMessage[] = [desc];
  const seen = new Set(reach);
  for (let i = 0; i < reach.length; i++) {
    for (const f of reach[i]!.fields) {
      const m = f.message;
      if (m !== undefined && !usesJsonLocal(f) && !seen.has(m) && memo.get(m) === undefined) {
        seen.add(m);
        reach.push(m);
      }
    }
  }
  const need = new Map(reach.map((d) => [d, d.fields.some((f) => f.presence === PRESENCE_REQUIRED)]));
  for (let changed = true; changed; ) {
    changed = false;
    for (const d of reach) {
      if (need.get(d)) continue;
      const sub = d.fields.some(
        (f) =>
          f.message !== undefined &&
          !usesJsonLocal(f) &&
          (need.get(f.message) ?? memo.get(f.message) ?? false),
      );
      if (sub) {
        need.set(d, true);
        changed = true;
      }
    }
  }
  for (const [d, n] of need) memo.set(d, n);
  return need.get(desc)!;
}
