/**
 * Reads that many requests may want at once (Deep Zoom tiles): one read per key in flight, whose
 * result every request for that key shares, and a bound on the bytes all reads in flight may hold.
 * Past it, reads wait their turn; past `maxWaiting` waiting, a request is refused (503) at once.
 * A flood of tile requests then costs neither memory nor the event loop's time.
 * @module
 */
import { BusyError } from './http-errors.js'

export class SharedReads<V> {
  readonly #inFlight = new Map<string, Promise<V>>()
  readonly #waiting: { bytes: number; start: () => void }[] = []
  #bytes = 0

  constructor(
    readonly maxBytes: number,
    readonly maxWaiting: number,
  ) {}

  /** Bytes held by the reads running now. */
  get bytesInFlight(): number {
    return this.#bytes
  }

  /** Reads started or waiting, one per key. */
  get pending(): number {
    return this.#inFlight.size
  }

  /** The value of `key`: the read in flight for it, or `read()` once `bytes` fit the bound. */
  read(key: string, bytes: number, read: () => Promise<V>): Promise<V> {
    const shared = this.#inFlight.get(key)
    if (shared) return shared
    const result = this.#admit(bytes).then(async () => {
      try {
        return await read()
      } finally {
        this.#release(bytes)
      }
    })
    const entry = result.finally(() => this.#inFlight.delete(key))
    this.#inFlight.set(key, entry)
    return entry
  }

  // A read larger than the bound runs alone rather than never.
  #fits(bytes: number): boolean {
    return this.#bytes === 0 || this.#bytes + bytes <= this.maxBytes
  }

  #admit(bytes: number): Promise<void> {
    if (this.#waiting.length === 0 && this.#fits(bytes)) {
      this.#bytes += bytes
      return Promise.resolve()
    }
    if (this.#waiting.length >= this.maxWaiting)
      return Promise.reject(
        new BusyError(`${this.#waiting.length} slide reads are waiting; try again shortly.`),
      )
    return new Promise((start) =>
      this.#waiting.push({
        bytes,
        start: () => {
          this.#bytes += bytes
          start()
        },
      }),
    )
  }

  #release(bytes: number): void {
    this.#bytes -= bytes
    while (this.#waiting.length > 0 && this.#fits((this.#waiting[0] as { bytes: number }).bytes))
      (this.#waiting.shift() as { start: () => void }).start()
  }
}
