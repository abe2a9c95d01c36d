/**
 * BatchNorm1d and BatchNorm2d with running statistics and num_batches_tracked, named as in PyTorch.
 * @see torch.nn.BatchNorm2d
 * @module
 */
import { ValidationError } from '../errors.js'
import {
  batchNorm,
  cat,
  checkInteger,
  full,
  noGrad,
  ones,
  scope,
  zeros,
  type ProcessGroup,
  type Tensor,
} from '../torch/index.js'
import { Module } from './module.js'
import { Parameter } from './parameter.js'

/** Options of BatchNorm1d and BatchNorm2d, as the arguments of torch.nn.BatchNorm2d. */
export interface BatchNormOptions {
  /** Added to the variance before the square root; 1e-5 by default. */
  eps?: number
  /** Weight of the new batch in the running statistics; null for a cumulative average. */
  momentum?: number | null
  /** Learn a per-channel scale (weight) and shift (bias); true by default. */
  affine?: boolean
  /**
   * Keep running mean and variance for evaluation mode; true by default. Without them,
   * evaluation uses batch statistics.
   */
  trackRunningStats?: boolean
}

/** The shared batch norm; subclasses say which input ranks they take. */
abstract class BatchNorm extends Module {
  /** The input ranks (numbers of dimensions) the layer accepts. */
  protected abstract readonly ranks: readonly number[]

  /** Channels C of the input, as num_features. */
  readonly numFeatures: number
  /** Added to the variance before the square root. */
  readonly eps: number
  /** Settable, as in PyTorch: update_bn (src/learn/callbacks/swa.ts) sets null for a pass. */
  momentum: number | null
  /** Per-channel scale of shape [C], initialised to ones; null when not affine. */
  readonly weight: Parameter | null
  /** Per-channel shift of shape [C], initialised to zeros; null when not affine. */
  readonly bias: Parameter | null
  /** Buffer running_mean of shape [C]; null when running statistics are not tracked. */
  readonly runningMean: Tensor | null
  /** Buffer running_var of shape [C]; null when running statistics are not tracked. */
  readonly runningVar: Tensor | null
  /** Int64 scalar buffer num_batches_tracked; null when running statistics are not tracked. */
  readonly numBatchesTracked: Tensor | null
  /**
   * Data-parallel training: normalise with the statistics of the whole global batch, summed over
   * this group's ranks (PyTorch's SyncBatchNorm). Null: this rank's batch alone.
   */
  syncGroup: ProcessGroup | null = null

  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super()
    const { eps = 1e-5, momentum = 0.1, affine = true, trackRunningStats = true } = options
    this.numFeatures = checkInteger(numFeatures, 'numFeatures', 1)
    this.eps = eps
    this.momentum = momentum
    this.weight = this.registerParameter(
      'weight',
      affine ? new Parameter(ones([numFeatures])) : null,
    )
    this.bias = this.registerParameter('bias', affine ? new Parameter(zeros([numFeatures])) : null)
    this.runningMean = this.registerBuffer(
      'running_mean',
      trackRunningStats ? zeros([numFeatures]) : null,
    )
    this.runningVar = this.registerBuffer(
      'running_var',
      trackRunningStats ? ones([numFeatures]) : null,
    )
    this.numBatchesTracked = this.registerBuffer(
      'num_batches_tracked',
      trackRunningStats ? zeros([], { dtype: 'int64' }) : null,
    )
  }

  /**
   * Normalises each channel of `x`; in training it also updates the running statistics in place.
   * Returns a new tensor that belongs to the caller.
   */
  forward(x: Tensor): Tensor {
    if (!this.ranks.includes(x.ndim)) {
      throw new ValidationError(
        `${this.constructor.name} expects a ${this.ranks.join('-D or ')}-D input but got shape [${x.shape}]`,
      )
    }
    let momentum = this.momentum ?? 0
    const track = this.training && this.numBatchesTracked !== null
    if (track) {
      const tracked = this.numBatchesTracked as Tensor
      noGrad(() => tracked.add_(1))
      if (this.momentum === null) momentum = 1 / tracked.item()
    }
    if (this.training && this.syncGroup && this.syncGroup.worldSize > 1)
      return this.#syncForward(x, momentum)
    // Batch statistics in training, or when there are no running statistics to use.
    const useBatchStats = this.training || this.runningMean === null
    return batchNorm(x, this.runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      training: useBatchStats,
      momentum,
      eps: this.eps,
    })
  }

  /** Training-mode batch norm over the global batch: per-channel sums are summed over the ranks. */
  #syncForward(x: Tensor, momentum: number): Tensor {
    const channels = this.numFeatures
    const dims = x.ndim === 2 ? [0] : x.ndim === 3 ? [0, 2] : [0, 2, 3]
    const shape =
      x.ndim === 2 ? [1, channels] : x.ndim === 3 ? [1, channels, 1] : [1, channels, 1, 1]
    return scope(() => {
      // Statistics in float32 whatever the autocast dtype, as batch norm computes them.
      const xf = x.float()
      const local = cat([
        xf.sum(dims),
        xf.mul(xf).sum(dims),
        full([1], x.numel / channels, { device: x.device }),
      ])
      const total = (this.syncGroup as ProcessGroup).allReduceSumAutograd(local)
      const n = total.slice(0, 2 * channels, 2 * channels + 1)
      const mean = total.slice(0, 0, channels).div(n)
      const variance = total
        .slice(0, channels, 2 * channels)
        .div(n)
        .sub(mean.mul(mean))
        .clamp(0, null)
      let y = xf.sub(mean.reshape(...shape)).mul(
        variance
          .add(this.eps)
          .rsqrt()
          .reshape(...shape),
      )
      if (this.weight && this.bias)
        y = y.mul(this.weight.reshape(...shape)).add(this.bias.reshape(...shape))
      if (this.runningMean && this.runningVar) {
        const count = n.item()
        const rm = this.runningMean
        const rv = this.runningVar
        noGrad(() => {
          rm.mul_(1 - momentum).add_(mean.detach().mul(momentum))
          rv.mul_(1 - momentum).add_(
            variance.detach().mul((momentum * count) / Math.max(count - 1, 1)),
          )
        })
      }
      return x.dtype === 'float32' ? y : y.to(x.dtype)
    })
  }

  override extraRepr(): string {
    return `${this.numFeatures}, eps=${this.eps}, momentum=${this.momentum}, affine=${this.weight !== null}`
  }
}

/** Batch norm over (N, C, H, W) feature maps. */
export class BatchNorm2d extends BatchNorm {
  /** 4-D input only. */
  protected readonly ranks = [4]
}

/** Batch norm over (N, C) or (N, C, L) features, as in classification heads. */
export class BatchNorm1d extends BatchNorm {
  /** 2-D or 3-D input. */
  protected readonly ranks = [2, 3]
}
