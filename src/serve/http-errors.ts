/**
 * The one place where errors become HTTP answers: client mistakes are 4xx with the reason, a full
 * queue or a stopped model 503, anything unexpected a bare 500 (and a log line).
 * @module
 */
import { PcamError } from '../errors.js'
import { QueueFullError } from './batcher.js'
import { WorkerStoppedError } from './inference.js'

/** An HTTP error with the status and the reason to send. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message)
  }
}

/** The server is at a bound it keeps (reads in flight, queued slide jobs): 503, retry later. */
export class BusyError extends Error {}

export interface ErrorAnswer {
  status: number
  headers: Record<string, string>
  body: { error: string; code?: string }
}

// PcamError codes that describe the client's input; the others are the server's own trouble.
const CLIENT_CODES: Record<string, number> = { VALIDATION: 400, DATA: 400 }

/** What to answer for an error; `tooLarge` is the 413 message, which names the limits. */
export function errorAnswer(error: unknown, tooLarge: string): ErrorAnswer {
  if (error instanceof QueueFullError || error instanceof BusyError)
    return { status: 503, headers: { 'retry-after': '1' }, body: { error: error.message } }
  if (error instanceof WorkerStoppedError)
    return { status: 503, headers: {}, body: { error: error.message } }
  if (error instanceof PcamError) {
    const status = CLIENT_CODES[error.code] ?? 500
    if (status < 500)
      return { status, headers: {}, body: { error: error.message, code: error.code } }
  }
  // HttpError, and Fastify's and @fastify/multipart's errors, carry their status.
  const status = (error as { statusCode?: unknown }).statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    const message = status === 413 ? tooLarge : (error as Error).message
    return { status, headers: {}, body: { error: message } }
  }
  return { status: 500, headers: {}, body: { error: 'Internal error' } }
}
