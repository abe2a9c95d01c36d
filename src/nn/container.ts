/**
 * Containers: Sequential (children named "0", "1", ... as in PyTorch) and Flatten.
 * @see torch.nn.Sequential
 * @module
 */
import type { Tensor } from '../torch/index.js'
import { Module } from './module.js'

/** Runs its layers one after another, as torch.nn.Sequential. */
export class Sequential extends Module {
  /** The layers in order, also registered as children "0", "1", .... */
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

  /** The layer at `index` (negative counts from the end), or undefined when out of range. */
  at(index: number): Module | undefined {
    return this.layers.at(index)
  }
  /** The number of layers. */
  get length(): number {
    return this.layers.length
  }
}

/** Flattens dimensions startDim..endDim into one (by default all but the batch dimension). */
export class Flatten extends Module {
  constructor(
    /** First dimension to flatten, as torch.nn.Flatten's start_dim. */
    readonly startDim = 1,
    /** Last dimension to flatten (inclusive; negative counts from the end), as end_dim. */
    readonly endDim = -1,
  ) {
    super()
  }
  /** A new tensor with those dimensions merged, a view of `x` where possible (as torch.flatten). */
  forward(x: Tensor): Tensor {
    return x.flatten(this.startDim, this.endDim)
  }
  override extraRepr(): string {
    return `start_dim=${this.startDim}, end_dim=${this.endDim}`
  }
}
