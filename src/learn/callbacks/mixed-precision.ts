/**
 * Mixed precision (fastai's MixedPrecision): forward passes under bfloat16 autocast (CPUs with
 * AVX512-BF16, GPUs), the loss and the backward pass in float32 as the weights are.
 * @module
 */
import { enterAutocast } from '../../torch/index.js'
import type { Callback } from '../learner.js'

export class MixedPrecision implements Callback {
  #exit: (() => void) | null = null

  beforeBatch(): void {
    this.#exit = enterAutocast()
  }
  afterPred(): void {
    this.#leave()
  }
  // A batch cancelled (or failed) before its prediction must not leave autocast on.
  afterBatch(): void {
    this.#leave()
  }
  afterFit(): void {
    this.#leave()
  }

  #leave(): void {
    this.#exit?.()
    this.#exit = null
  }
}
