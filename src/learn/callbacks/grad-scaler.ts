/**
 * Dynamic loss scaling for float16 training (torch.cuda.amp.GradScaler's rules): the loss is
 * multiplied by a scale before backward so that small gradients survive float16, the gradients
 * are divided by it again before clipping and the step, and a step whose gradients hold inf or
 * NaN is skipped. The scale halves after each skipped step and doubles after `growthInterval`
 * good steps in a row. Its state is checkpointed, so a resumed run scales as the stopped one did.
 * @module
 */
import { noGrad, scope, type Tensor } from '../../torch/index.js'
import type { CheckpointedCallback } from '../checkpoint.js'
import { CancelBatch, type Learner } from '../learner.js'

/** How the loss scale starts and changes (the arguments of PyTorch's GradScaler). */
export interface GradScalerOptions {
  /** The scale to start from (default 2^16). */
  initScale?: number
  /** What the scale is multiplied by after growthInterval good steps in a row (default 2). */
  growthFactor?: number
  /** What the scale is multiplied by after a step skipped for inf/NaN gradients (default 0.5). */
  backoffFactor?: number
  /** Good steps in a row before the scale grows (default 2000). */
  growthInterval?: number
}

/** PyTorch's defaults. */
export const GRAD_SCALER_DEFAULTS = {
  initScale: 2 ** 16,
  growthFactor: 2,
  backoffFactor: 0.5,
  growthInterval: 2000,
} as const satisfies Required<GradScalerOptions>

/**
 * Dynamic loss scaling for fp16 training (torch.cuda.amp.GradScaler): scales the loss up for
 * backward and the gradients back down, and skips the step of a batch whose gradients overflowed.
 */
export class GradScaler implements CheckpointedCallback {
  /** -5: unscales after data-parallel averaging (-10) and before gradient clipping (0). */
  readonly order = -5
  /** Its name in checkpoints, whose state.json keeps its counts under it. */
  readonly stateName = 'gradScaler'
  readonly freshWhenMissing = true
  /** The settings, with PyTorch's defaults for those not given. */
  readonly options: Required<GradScalerOptions>
  /** The factor the loss is multiplied by now. */
  scale: number
  /** Good steps in a row since the scale last changed. */
  growthTracker = 0
  /** Steps skipped for non-finite gradients (not checkpointed: a count for reports and tests). */
  skippedSteps = 0
  #backwardDone = false
  #foundInf = false

  constructor(options: GradScalerOptions = {}) {
    this.options = { ...GRAD_SCALER_DEFAULTS, ...options }
    this.scale = this.options.initScale
  }

  /** Multiplies the loss by the scale before it is back-propagated. */
  beforeBackward(learn: Learner): void {
    learn.loss = (learn.loss as Tensor).mul(this.scale)
    this.#backwardDone = true
  }

  /** Divides the gradients by the scale; a non-finite one cancels the step. */
  afterBackward(learn: Learner): void {
    const grads = [...learn.model.parameters()].flatMap((p) => (p.grad ? [p.grad] : []))
    this.#foundInf = !noGrad(() =>
      scope(() => {
        let total: Tensor | null = null
        for (const g of grads) {
          g.mul_(1 / this.scale)
          // inf - inf and anything with a NaN sum to NaN: one reduction a tensor, one sync.
          const s = g.sum()
          total = total === null ? s : total.add(s)
        }
        return total === null || Number.isFinite(total.item())
      }),
    )
    if (this.#foundInf) throw new CancelBatch()
  }

  /** After each training batch that ran backward: back off on inf/NaN, grow after a streak. */
  afterBatch(learn: Learner): void {
    if (!learn.training || !this.#backwardDone) return
    this.#backwardDone = false
    if (this.#foundInf) {
      this.scale *= this.options.backoffFactor
      this.growthTracker = 0
      this.skippedSteps++
    } else if (++this.growthTracker === this.options.growthInterval) {
      this.scale *= this.options.growthFactor
      this.growthTracker = 0
    }
    this.#foundInf = false
  }

  stateTensors(): Map<string, Tensor> {
    return new Map()
  }
  /** The scale and growth tracker, so that a resumed run scales as the stopped one did. */
  stateCounts(): Record<string, number> {
    return { scale: this.scale, growthTracker: this.growthTracker }
  }
  loadState(_tensors: Map<string, Tensor>, counts: Record<string, number>): void {
    this.scale = counts.scale ?? this.options.initScale
    this.growthTracker = counts.growthTracker ?? 0
  }
}
