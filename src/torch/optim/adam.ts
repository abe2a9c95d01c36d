/**
 * Adam and AdamW. Adam adds weight decay to the gradient (L2); AdamW shrinks the weights directly
 * (decoupled), which is what fastai and the reference study use.
 * @see torch.optim.Adam
 * @see torch.optim.AdamW
 * @module
 */
import { checkNumber } from '../check.js'
import { zerosLike } from '../creation.js'
import { native } from '../native.js'
import { keep } from '../scope.js'
import { handles, type Tensor } from '../tensor.js'
import { Optimizer, type ParamGroup, type ParamsInput } from './optimizer.js'

/** Hyper-parameters of Adam and AdamW, as torch.optim.Adam's arguments. */
export interface AdamHyper {
  /** Learning rate; 1e-3 by default. */
  lr: number
  /** Decay rates of the averages of the gradient and of its square; [0.9, 0.999] by default. */
  betas: [number, number]
  /** Added to the denominator for numerical stability; 1e-8 by default. */
  eps: number
  /** Weight decay: L2 on the gradient for Adam (default 0), decoupled for AdamW (default 0.01). */
  weightDecay: number
}
/** Adam's state for one parameter. */
export interface AdamState {
  /** Number of steps taken for this parameter. */
  step: number
  /** Running average of the gradient (first moment), as exp_avg. */
  expAvg: Tensor
  /** Running average of the squared gradient (second moment), as exp_avg_sq. */
  expAvgSq: Tensor
}

function checked(options: Partial<AdamHyper>, weightDecay: number): AdamHyper {
  const hyper: AdamHyper = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay, ...options }
  checkNumber(hyper.lr, 'lr', 0)
  checkNumber(hyper.betas[0], 'betas[0]', 0, 1)
  checkNumber(hyper.betas[1], 'betas[1]', 0, 1)
  checkNumber(hyper.eps, 'eps', 0)
  checkNumber(hyper.weightDecay, 'weightDecay', 0)
  return hyper
}

/** Adam, with weight decay added to the gradient (L2), as torch.optim.Adam. */
export class Adam extends Optimizer<AdamHyper, AdamState> {
  /** True for AdamW: weight decay shrinks the weights directly instead of joining the gradient. */
  protected readonly decoupled: boolean = false

  constructor(params: ParamsInput<AdamHyper>, options: Partial<AdamHyper> = {}) {
    super(params, checked(options, 0))
  }

  /** One Adam step over `params`, in place, creating their state on first use. */
  protected stepGroup(group: ParamGroup<AdamHyper>, params: Tensor[]): void {
    const states = params.map((p) => this.#state(p))
    for (const state of states) state.step += 1
    native.adamStep(
      handles(params),
      handles(states.map((s) => s.expAvg)),
      handles(states.map((s) => s.expAvgSq)),
      states.map((s) => s.step),
      group.lr,
      group.betas[0],
      group.betas[1],
      group.eps,
      group.weightDecay,
      this.decoupled,
    )
  }

  #state(p: Tensor): AdamState {
    let state = this.state.get(p)
    if (state === undefined) {
      state = { step: 0, expAvg: keep(zerosLike(p)), expAvgSq: keep(zerosLike(p)) }
      this.state.set(p, state)
    }
    return state
  }
}

/** Adam with decoupled weight decay (default 0.01, as torch.optim.AdamW). */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true

  constructor(params: ParamsInput<AdamHyper>, options: Partial<AdamHyper> = {}) {
    super(params, { weightDecay: 0.01, ...options })
  }
}
