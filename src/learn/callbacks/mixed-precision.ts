/**
 * Mixed precision (fastai's MixedPrecision): forward passes under autocast in bfloat16 (CPUs with
 * bf16 units, GPUs from compute capability 8.0) or float16 (GPUs, with GradScaler beside it), the
 * loss and the backward pass in float32 as the weights are.
 * @module
 */
import { enterAutocast } from '../../torch/index.js'
import type { Callback } from '../learner.js'
import type { ComputePlan } from '../precision.js'
import { GradScaler } from './grad-scaler.js'

/** The callbacks a plan trains with: none for fp32, autocast, and loss scaling for fp16. */
export function precisionCallbacks(plan: Pick<ComputePlan, 'precision' | 'device'>): Callback[] {
  if (plan.precision === 'fp32') return []
  const mixed = new MixedPrecision(plan.precision, plan.device === 'cpu' ? 'cpu' : 'cuda')
  return plan.precision === 'fp16' ? [mixed, new GradScaler()] : [mixed]
}

export class MixedPrecision implements Callback {
  #exit: (() => void) | null = null

  constructor(
    readonly precision: 'bf16' | 'fp16' = 'bf16',
    readonly deviceType: 'cpu' | 'cuda' = 'cpu',
  ) {}

  beforeBatch(): void {
    this.#exit = enterAutocast({
      deviceType: this.deviceType,
      dtype: this.precision === 'bf16' ? 'bfloat16' : 'float16',
    })
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
