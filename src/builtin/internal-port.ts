/**
 * brpc's `internal_port`: a second listener of the server where the builtin pages are
 * served (every protocol is served there too, as in brpc); the main port then refuses
 * builtin pages with 403 `EPERM` (see `builtinAllowed` in registry.ts).
 */
import { type Endpoint, parseEndpoint } from "../transport/endpoint.js";

/**
 * The address of the internal port: a number is a port on the host of the main address
 * (brpc); a string is an address of its own ("127.0.0.1:9000", "unix:/run/admin.sock").
 */
export function internalEndpoint(option: number | string, main: Endpoint): Endpoint {
  if (typeof option === "number") {
    if (!Number.isInteger(option) || option < 0 || option > 65535) {
      throw new RangeError(`ServerOptions.internalPort must be a port number, got ${option}`);
    }
    if (main.kind !== "tcp") {
      throw new RangeError(
        'ServerOptions.internalPort: give an address ("ip:port") for a server on a unix socket',
      );
    }
    if (option !== 0 && option === main.port) {
      throw new RangeError(`ServerOptions.internalPort=${option} is the same as the server port`);
    }
    return { kind: "tcp", host: main.host, port: option };
  }
  const ep = parseEndpoint(option);
  if (ep.kind === "tcp" && main.kind === "tcp" && ep.port !== 0 && ep.port === main.port) {
    throw new RangeError(`ServerOptions.internalPort=${option} is the same as the server port`);
  }
  if (ep.kind === "unix" && main.kind === "unix" && ep.path === main.path) {
    throw new RangeError(`ServerOptions.internalPort=${option} is the same as the server address`);
  }
  return ep;
}
