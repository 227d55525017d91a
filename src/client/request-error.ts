/** A request that cannot be sent (EREQUEST); its message is the whole error text. */
export class RequestError extends Error {}
