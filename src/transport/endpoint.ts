/** Parsing of the address strings brpc accepts: "ip:port", "host:port", "[v6]:port", "unix:path". */

/** A parsed address. */
export type Endpoint = { kind: "tcp"; host: string; port: number } | { kind: "unix"; path: string };

/** Parse `addr`; throws a TypeError naming the bad input. A bare number is a port on all interfaces. */
export function parseEndpoint(addr: string | number): Endpoint {
  if (typeof addr === "number") return { kind: "tcp", host: "0.0.0.0", port: checkPort(addr, String(addr)) };
  const s = addr.trim();
  if (s.startsWith("unix:")) {
    const path = s.slice(5);
    if (path === "") throw new TypeError(`bad address "${addr}": empty unix socket path`);
    return { kind: "unix", path };
  }
  if (/^\d+$/.test(s)) return { kind: "tcp", host: "0.0.0.0", port: checkPort(Number(s), addr) };
  let host: string;
  let portStr: string;
  if (s.startsWith("[")) {
    const close = s.indexOf("]");
    if (close < 0 || s[close + 1] !== ":") throw new TypeError(`bad address "${addr}": expected [ipv6]:port`);
    host = s.slice(1, close);
    portStr = s.slice(close + 2);
  } else {
    const colon = s.lastIndexOf(":");
    if (colon < 0) throw new TypeError(`bad address "${addr}": expected host:port or unix:path`);
    host = s.slice(0, colon);
    portStr = s.slice(colon + 1);
  }
  if (host === "") host = "0.0.0.0";
  if (!/^\d+$/.test(portStr)) throw new TypeError(`bad address "${addr}": port must be a number`);
  return { kind: "tcp", host, port: checkPort(Number(portStr), addr) };
}

function checkPort(port: number, addr: string): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new TypeError(`bad address "${addr}": port out of range`);
  }
  return port;
}

/** Format an endpoint back to brpc's string form. */
export function formatEndpoint(ep: Endpoint): string {
  if (ep.kind === "unix") return `unix:${ep.path}`;
  return ep.host.includes(":") ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
}
