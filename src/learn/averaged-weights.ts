/**
 * An average of a model's parameters, by name, that can be swapped into the model and back: what
 * the weight-averaging callbacks (EMA, SWA) keep, validate and checkpoint.
 * @module
 */
import type { Module } from '../nn/index.js'
import { keep, noGrad, zerosLike, type Tensor } from '../torch/index.js'

/** Whether both are laid out alike: row-major, or both channels-last (4-D weights). */
function sameLayout(a: Tensor, b: Tensor): boolean {
  const channelsLast = (t: Tensor) =>
    t.ndim === 4 && !t.isContiguous() && t.isContiguous('channelsLast')
  return channelsLast(a) === channelsLast(b)
}

export class AveragedWeights {
  #average: Map<string, Tensor> | null = null
  /** Whether the average is known to sit where the model's parameters are. */
  #placed = false
  /** The model's own tensors while the average is in it. */
  #raw: Map<string, Tensor> | null = null

  /** The average by parameter name, or null before it starts. */
  get average(): Map<string, Tensor> | null {
    return this.#average
  }

  /**
   * The average, on the devices and in the layouts of the model's parameters: one restored from a
   * checkpoint is loaded contiguous on the CPU, while a GPU run averages on its GPU and a
   * channels-last model's updates run element by element only between equal layouts.
   */
  averageOn(model: Module): Map<string, Tensor> | null {
    const average = this.#average
    if (!average || this.#placed) return average
    for (const [name, p] of model.namedParameters()) {
      const avg = average.get(name)
      if (avg && (avg.device !== p.device || !sameLayout(avg, p))) {
        average.set(name, keep(noGrad(() => zerosLike(p, { dtype: avg.dtype }).copy_(avg))))
        avg.dispose()
      }
    }
    this.#placed = true
    return average
  }

  /** Whether the average is in the model now. */
  get swappedIn(): boolean {
    return this.#raw !== null
  }

  /** Starts (or restarts) the average from the model's parameters, or from saved tensors. */
  reset(from: Module | Map<string, Tensor>): void {
    this.#disposeAverage()
    const source = from instanceof Map ? from : new Map(from.namedParameters())
    this.#average = noGrad(() => new Map([...source].map(([name, t]) => [name, keep(t.clone())])))
    this.#placed = !(from instanceof Map)
  }

  /**
   * Puts the average into the model's parameters, keeping the model's own tensors to restore:
   * its parameters, and its buffers too when `buffers` (something will change the statistics).
   */
  swapIn(model: Module, { buffers = false }: { buffers?: boolean } = {}): void {
    const average = this.averageOn(model)
    if (!average || this.#raw) return
    noGrad(() => {
      const own = buffers ? model.stateDict() : new Map(model.namedParameters())
      this.#raw = new Map([...own].map(([name, t]) => [name, keep(t.clone())]))
      for (const [name, p] of model.namedParameters()) p.copy_(average.get(name) as Tensor)
    })
  }

  /** Puts the model's own tensors back after swapIn. */
  restore(model: Module): void {
    const raw = this.#raw
    if (!raw) return
    model.loadStateDict(raw, { strict: false })
    for (const t of raw.values()) t.dispose()
    this.#raw = null
  }

  /** The average's tensors, for a checkpoint (empty before it starts). */
  tensors(): Map<string, Tensor> {
    return new Map(this.#average ?? [])
  }

  #disposeAverage(): void {
    for (const t of this.#average?.values() ?? []) t.dispose()
    this.#average = null
  }

  dispose(): void {
    this.#disposeAverage()
    for (const t of this.#raw?.values() ?? []) t.dispose()
    this.#raw = null
  }
}
