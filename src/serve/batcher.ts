/**
 * Dynamic batching: requests that arrive close together are run through the model as one batch.
 * A batch starts when `maxBatch` items wait or `maxWaitMs` after the first one arrived, whichever
 * is first (with 0, at the end of the current turn of the event loop); one batch runs at a time (the model has one worker), and what arrives meanwhile forms
 * the next, started as soon as the running one ends. The queue is bounded: over `maxQueue` waiting items, submit() refuses at once,
 * and submitAll() admits a request's items all together or not at all.
 * @module
 */

export interface BatcherOptions<I, O> {
  maxBatch: number
  maxWaitMs: number
  maxQueue: number
  /** Runs one batch; must return one output per input, in order. */
  run: (items: I[]) => Promise<O[]>
  onBatch?: (size: number) => void
}

/** Thrown by submit() when the queue is full: the caller should answer 503 and retry later. */
export class QueueFullError extends Error {
  constructor(readonly queued: number) {
    super(`The prediction queue is full (${queued} waiting); try again shortly.`)
  }
}

interface Pending<I, O> {
  item: I
  resolve: (output: O) => void
  reject: (error: unknown) => void
}

export class DynamicBatcher<I, O> {
  readonly #options: BatcherOptions<I, O>
  #queue: Pending<I, O>[] = []
  #timer: NodeJS.Timeout | NodeJS.Immediate | null = null
  #running: Promise<void> | null = null

  constructor(options: BatcherOptions<I, O>) {
    if (!(options.maxBatch >= 1 && options.maxQueue >= 1 && options.maxWaitMs >= 0))
      throw new RangeError('maxBatch and maxQueue must be at least 1, maxWaitMs at least 0')
    this.#options = options
  }

  /** Items waiting for a batch (not counting the one running). */
  get queueLength(): number {
    return this.#queue.length
  }

  get busy(): boolean {
    return this.#running !== null
  }

  submit(item: I): Promise<O> {
    return this.submitAll([item])[0] as Promise<O>
  }

  /** Queues every item, or none when they do not all fit: a refused request leaves nothing behind. */
  submitAll(items: I[]): Promise<O>[] {
    if (this.#queue.length + items.length > this.#options.maxQueue)
      throw new QueueFullError(this.#queue.length)
    const outputs = items.map(
      (item) => new Promise<O>((resolve, reject) => this.#queue.push({ item, resolve, reject })),
    )
    this.#schedule()
    return outputs
  }

  /** Resolves when nothing is queued or running. */
  async drain(): Promise<void> {
    while (this.#running || this.#queue.length > 0) {
      if (!this.#running) this.#start()
      await this.#running
    }
  }

  #schedule(): void {
    if (this.#running) return // the next batch starts when this one ends
    if (this.#queue.length >= this.#options.maxBatch) {
      this.#start()
    } else if (!this.#timer) {
      // No wait: still let what arrived in the same turn of the event loop join.
      this.#timer =
        this.#options.maxWaitMs > 0
          ? setTimeout(() => this.#start(), this.#options.maxWaitMs)
          : setImmediate(() => this.#start())
    }
  }

  #start(): void {
    if (this.#timer) {
      clearTimeout(this.#timer as NodeJS.Timeout)
      clearImmediate(this.#timer as NodeJS.Immediate)
    }
    this.#timer = null
    if (this.#running || this.#queue.length === 0) return
    const batch = this.#queue.splice(0, this.#options.maxBatch)
    this.#options.onBatch?.(batch.length)
    this.#running = (async () => {
      try {
        const outputs = await this.#options.run(batch.map((p) => p.item))
        if (outputs.length !== batch.length)
          throw new Error(`A batch of ${batch.length} gave ${outputs.length} outputs`)
        batch.forEach((p, k) => p.resolve(outputs[k] as O))
      } catch (error) {
        for (const p of batch) p.reject(error)
      } finally {
        this.#running = null
        // Whatever queued meanwhile has waited long enough: it is the next batch.
        if (this.#queue.length > 0) this.#start()
      }
    })()
  }
}
