/**
 * Mixed precision (fastai's MixedPrecision): forward passes under autocast in bfloat16 (CPUs with
 * bf16 units, GPUs from compute capability 8.0) or float16 (GPUs, with GradScaler beside it), the
 * loss and the backward pass in float32 as the weights are.
 * @module
 */
import { enterAutocast, type Dtype } from '../../torch/index.js'
import type { Callback } from '../learner.js'
import { autocastDtype, type ComputePlan } from '../precision.js'
import { GradScaler } from './grad-scaler.js'

/** The callbacks a plan trains with: none for fp32, autocast, and loss scaling for fp16. */
export function precisionCallbacks(plan: Pick<ComputePlan, 'precision' | 'device'>): Callback[] {
  if (plan.precision === 'fp32') return []
  const mixed = new MixedPrecision(plan.precision, plan.device === 'cpu' ? 'cpu' : 'cuda')
  return plan.precision === 'fp16' ? [mixed, new GradScaler()] : [mixed]
}

/**
 * Runs each batch's forward pass under autocast in bf16 or fp16 (fastai's MixedPrecision); fp16
 * needs GradScaler beside it.
 */
export class MixedPrecision implements Callback {
  #exit: (() => void) | null = null

  constructor(
    /** The autocast dtype: bfloat16 or float16. */
    readonly precision: 'bf16' | 'fp16' = 'bf16',
    /** The device type autocast applies to: where the model runs. */
    readonly deviceType: 'cpu' | 'cuda' = 'cpu',
  ) {}

  /** Turns autocast on for the forward pass (off first, should a cancel have skipped that). */
  beforeBatch(): void {
    this.#leave()
    this.#exit = enterAutocast({
      deviceType: this.deviceType,
      dtype: autocastDtype(this.precision) as Dtype,
    })
  }
  /** Turns autocast off once the model has predicted, so that the loss is outside it. */
  afterPred(): void {
    this.#leave()
  }
  /** Turns autocast off where the batch was cancelled before its prediction. */
  afterBatch(): void {
    this.#leave()
  }
  /**
   * Turns autocast off after the training batches, the validation, the epoch and the fit: a
   * cancel thrown inside a forward pass skips afterPred and afterBatch, and the rest of the fit
   * (and whatever follows it) must not run under autocast.
   */
  afterTrain(): void {
    this.#leave()
  }
  /** As afterTrain. */
  afterValidate(): void {
    this.#leave()
  }
  /** As afterTrain. */
  afterEpoch(): void {
    this.#leave()
  }
  /** As afterTrain; also where the fit failed. */
  afterFit(): void {
    this.#leave()
  }

  #leave(): void {
    this.#exit?.()
    this.#exit = null
  }
}
