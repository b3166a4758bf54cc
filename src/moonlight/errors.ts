/**
 * Named errors of the GameStream control plane (nvhttp + pairing).
 *
 * Every failure caused by the network or by the host surfaces as one of these, so callers (the CLI,
 * the streamer) can branch on `instanceof` and print one line instead of a stack trace.
 */

/** Nothing listens at the address, or it cannot be reached (refused, no route, DNS failure). */
export class HostUnreachableError extends Error {
  override name = "HostUnreachableError";
}

/** The host accepted the connection but did not answer within the time limit. */
export class RequestTimeoutError extends Error {
  override name = "RequestTimeoutError";
}

/** The caller aborted the request through its AbortSignal. */
export class RequestAbortedError extends Error {
  override name = "RequestAbortedError";
}

/**
 * The connection broke before a complete response arrived (reset, closed early). Wolf resets a
 * reused keep-alive connection, so the client retries such a request once on a fresh connection.
 */
export class ConnectionLostError extends Error {
  override name = "ConnectionLostError";
}

/** The reply was not what the protocol promises: not XML, no `<root>`, a missing or garbled field. */
export class MalformedResponseError extends Error {
  override name = "MalformedResponseError";
}

/**
 * The host answered with an error: either an HTTP status other than 200 without a usable XML body,
 * or `<root status_code="…">` other than 200 (hosts use HTTP 200 even for logical errors).
 */
export class HostHttpError extends Error {
  override name = "HostHttpError";
  constructor(
    message: string,
    /** The HTTP status line's code. */
    readonly httpStatus: number,
    /** `root@status_code` when the body was XML, else undefined. */
    readonly statusCode?: number,
    /** `root@status_message` when present. */
    readonly statusMessage?: string,
  ) {
    super(message);
  }
}

/** HTTPS was refused because this client's certificate is not (or no longer) paired with the host. */
export class NotPairedError extends HostHttpError {
  override name = "NotPairedError";
}

/** The HTTPS server presented a certificate other than the one pinned at pairing time. */
export class CertificateMismatchError extends Error {
  override name = "CertificateMismatchError";
}

/** Pairing failed because the PIN typed on the host differs from ours (detected after phase 3). */
export class WrongPinError extends Error {
  override name = "WrongPinError";
}

/** The host is already pairing with another client (phase 1 came back without a certificate). */
export class PairingInProgressError extends Error {
  override name = "PairingInProgressError";
}

/** The caller cancelled pairing through its AbortSignal; the host was told to drop the attempt. */
export class PairingCancelledError extends Error {
  override name = "PairingCancelledError";
}

/**
 * Pairing failed for another reason: the host said `paired=0`, or the host's signature did not
 * verify with its own certificate (someone in the middle).
 */
export class PairingFailedError extends Error {
  override name = "PairingFailedError";
}

/** The requested app is not in the host's app list (Wolf's list can lag: retrying may help). */
export class AppNotFoundError extends Error {
  override name = "AppNotFoundError";
}

/** A host address string (`host[:port]`) could not be parsed. */
export class InvalidHostAddressError extends Error {
  override name = "InvalidHostAddressError";
}
