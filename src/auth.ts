/**
 * Authentication, after brpc's `Authenticator`: the client sends a credential on the
 * first request of every connection; the server verifies only that first request.
 * A failed verification is answered with ERPCAUTH and the connection is closed.
 */

/** What a successful verification tells the server about the peer (brpc `AuthContext`). */
export interface AuthContext {
  user?: string;
  group?: string;
  roles?: string;
  starter?: string;
  isService?: boolean;
}

/** One object can serve both sides; each side uses its own method. */
export interface Authenticator {
  /** [Client] The credential to put in the first request of a new connection. */
  generateCredential?(): string | Uint8Array | Promise<string | Uint8Array>;
  /**
   * [Server] Verify `credential` from the first request of a connection from `remoteSide`.
   * Return true or an {@link AuthContext} to accept, false (or throw) to reject.
   */
  verifyCredential?(
    credential: Buffer,
    remoteSide: string,
  ): boolean | AuthContext | Promise<boolean | AuthContext>;
  /** [Server] Text appended to "Fail to authenticate" for rejected peers. */
  unauthorizedErrorText?(): string;
}
