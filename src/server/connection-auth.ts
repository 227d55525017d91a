/**
 * Authentication state of a server connection, shared by its protocols (brpc verifies
 * the credential of a connection's first request and remembers the answer): baidu_std,
 * HTTP and gRPC all read and write `conn.state.auth`.
 */
import type { AuthContext } from "../auth.js";
import { log } from "../log.js";
import type { Connection } from "../transport/connection.js";
import type { Server } from "./server.js";

/** What the authenticator said about a connection. */
export interface AuthState {
  ok: boolean;
  context: AuthContext | undefined;
}

const NO_AUTH: AuthState = { ok: true, context: undefined };

/**
 * The auth state of `conn`, verifying `credential()` (the first request's credential,
 * read only when needed) if nothing was decided yet. Concurrent first requests share one
 * verification; a verifier that throws or rejects counts as a refusal, logged once.
 */
export function connectionAuth(
  server: Server,
  conn: Connection,
  credential: () => Buffer,
): AuthState | Promise<AuthState> {
  const auth = server.options.auth;
  if (auth?.verifyCredential === undefined) return NO_AUTH;
  const st = conn.state;
  if (st.auth !== undefined) return st.auth as AuthState;
  if (st.authPending !== undefined) return st.authPending as Promise<AuthState>;
  const done = (r: boolean | AuthContext): AuthState => {
    const s: AuthState =
      r === false ? { ok: false, context: undefined } : { ok: true, context: r === true ? undefined : r };
    st.auth = s;
    st.authPending = undefined;
    if (!s.ok) log.warn(`Fail to authenticate ${conn.remoteSide}`);
    return s;
  };
  const fail = (err: unknown): AuthState => {
    log.warn(`Fail to authenticate ${conn.remoteSide}`, err);
    return done(false);
  };
  let r: boolean | AuthContext | Promise<boolean | AuthContext>;
  try {
    r = auth.verifyCredential(credential(), conn.remoteSide);
  } catch (err) {
    return fail(err);
  }
  if (!(r instanceof Promise)) return done(r);
  const p = r.then(done, fail);
  st.authPending = p;
  return p;
}
