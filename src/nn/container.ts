/**
 * Containers: Sequential (children named "0", "1", ... as in PyTorch) and Flatten.
 * @see torch.nn.Sequential
 * @module
 */
import type { Tensor } from '../torch/index.js'
import { Module } from './module.js'

export class Sequential extends Module {
  readonly layers: Module[]

  constructor(...layers: Module[]) {
    super()
    this.layers = layers.map((layer, i) => this.registerModule(String(i), layer))
  }

  /** Runs the layers in order; intermediate activations are freed as soon as the next exists. */
  forward(x: Tensor): Tensor {
    let out = x
    for (const layer of this.layers) {
      const next = layer.forward(out)
      if (out !== x) out.dispose()
      out = next
    }
    return out
  }

  at(index: number): Module | undefined {
    return this.layers.at(index)
  }
  get length(): number {
    return this.layers.length
  }
}

/** Flattens dimensions startDim..endDim into one (by default all but the batch dimension). */
export class Flatten extends Module {
  constructor(
    readonly startDim = 1,
    readonly endDim = -1,
  ) {
    super()
  }
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim)
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`
  }
}
