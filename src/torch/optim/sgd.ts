/**
 * Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay.
 * @see torch.optim.SGD
 * @module
 */
import { ValidationError } from '../../errors.js'
import { checkNumber } from '../check.js'
import { zerosLike } from '../creation.js'
import { native } from '../native.js'
import { keep } from '../scope.js'
import { handles, type Tensor } from '../tensor.js'
import { Optimizer, type ParamGroup, type ParamsInput } from './optimizer.js'

/** Hyper-parameters of SGD, as torch.optim.SGD's arguments. */
export interface SgdHyper {
  /** Learning rate; required. */
  lr: number
  /** Momentum factor; 0 (none) by default. */
  momentum: number
  /** Dampening of the gradient's contribution to the momentum; 0 by default. */
  dampening: number
  /** L2 penalty added to the gradient; 0 by default. */
  weightDecay: number
  /** Nesterov momentum (needs a momentum and zero dampening); false by default. */
  nesterov: boolean
}
/** SGD's state of one parameter. */
export interface SgdState {
  /** The momentum buffer; null until the first step with momentum. */
  momentumBuffer: Tensor | null
}

/** Stochastic gradient descent, as torch.optim.SGD. */
export class SGD extends Optimizer<SgdHyper, SgdState> {
  constructor(params: ParamsInput<SgdHyper>, options: Partial<SgdHyper> & { lr: number }) {
    const defaults: SgdHyper = {
      momentum: 0,
      dampening: 0,
      weightDecay: 0,
      nesterov: false,
      ...options,
    }
    checkNumber(defaults.lr, 'lr', 0)
    checkNumber(defaults.momentum, 'momentum', 0)
    if (defaults.nesterov && (defaults.momentum <= 0 || defaults.dampening !== 0)) {
      throw new ValidationError('Nesterov momentum requires a momentum and zero dampening')
    }
    super(params, defaults)
  }

  /** One SGD step over `params`, in place; a new momentum buffer starts as the gradient. */
  protected stepGroup(group: ParamGroup<SgdHyper>, params: Tensor[]): void {
    const { lr, momentum, dampening, weightDecay, nesterov } = group
    // Parameters seen before and new ones are stepped separately: a new buffer takes the gradient.
    const fresh = params.filter((p) => !this.state.has(p))
    const known = params.filter((p) => this.state.has(p))
    for (const [list, first] of [
      [fresh, true],
      [known, false],
    ] as const) {
      if (list.length === 0) continue
      const buffers = momentum === 0 ? [] : list.map((p) => this.#buffer(p))
      native.sgdStep(
        handles(list),
        handles(buffers),
        first,
        lr,
        momentum,
        dampening,
        weightDecay,
        nesterov,
      )
    }
  }

  #buffer(p: Tensor): Tensor {
    let state = this.state.get(p)
    if (state?.momentumBuffer == null) {
      state = { momentumBuffer: keep(zerosLike(p)) }
      this.state.set(p, state)
    }
    return state.momentumBuffer as Tensor
  }
}
