/**
 * The one HTTP error type. Every 4xx/5xx body is `{ "error": code, "message": text }`.
 */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function errorBody(code: string, message: string): { error: string; message: string } {
  return { error: code, message };
}
