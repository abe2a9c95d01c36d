/**
 * The optimizer base, shaped like torch.optim.Optimizer: parameter groups whose hyper-parameters
 * schedules may change before any step, per-parameter state, zeroGrad() and step().
 * @module
 */
import { ValidationError } from '../../errors.js'
import { noGrad } from '../autograd.js'
import { native } from '../native.js'
import { handles, Tensor } from '../tensor.js'

/** A parameter group: its tensors plus hyper-parameters (lr, momentum, betas, weightDecay, ...). */
export type ParamGroup<H> = {
  /** The parameters this group updates. */
  params: Tensor[]
} & H

/** Either a flat list of parameters or groups that override some defaults. */
export type ParamsInput<H> =
  | Tensor[]
  | ({
      /** The parameters of this group. */
      params: Tensor[]
    } & Partial<H>)[]

/** Base of the optimizers: H is the hyper-parameters of a group, S the state kept per parameter. */
export abstract class Optimizer<
  H extends {
    /** Learning rate. */
    lr: number
  },
  S,
> {
  /** The groups with every hyper-parameter filled in; schedules change these in place. */
  readonly paramGroups: ParamGroup<H>[]
  /** Per-parameter state (momentum buffers, moment estimates, step counts). */
  readonly state = new Map<Tensor, S>()

  constructor(params: ParamsInput<H>, defaults: H) {
    const groups =
      params.length > 0 && !('params' in (params[0] as object))
        ? [{ params: params as Tensor[] }]
        : params
    this.paramGroups = (groups as ({ params: Tensor[] } & Partial<H>)[]).map((group) => ({
      ...defaults,
      ...group,
    }))
    const seen = new Set<Tensor>()
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (seen.has(p))
          throw new ValidationError('A parameter appears in more than one parameter group')
        seen.add(p)
      }
    }
  }

  /** Drops every gradient (PyTorch's zero_grad with set_to_none). */
  zeroGrad(): void {
    for (const group of this.paramGroups) for (const p of group.params) p.grad = null
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    noGrad(() => {
      for (const group of this.paramGroups) {
        const params = group.params.filter((p) => p.hasGrad)
        if (params.length > 0) this.stepGroup(group, params)
      }
    })
  }

  /**
   * Updates `params` (those of `group` that have a gradient) in place; step() calls it without
   * recording gradients.
   */
  protected abstract stepGroup(group: ParamGroup<H>, params: Tensor[]): void

  /** Frees the state tensors. */
  dispose(): void {
    for (const state of this.state.values()) {
      for (const value of Object.values(state as object)) {
        if (value instanceof Tensor) value.dispose()
      }
    }
    this.state.clear()
  }
}

/**
 * Scales gradients so their joint 2-norm is at most maxNorm; returns the norm before clipping.
 * @see torch.nn.utils.clip_grad_norm_
 */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  return native.clipGradNorm(handles(params), maxNorm)
}
