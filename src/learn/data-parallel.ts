/**
 * Data-parallel training over a c10d process group, as PyTorch's DistributedDataParallel does it:
 * rank 0's parameters and buffers are broadcast at the start, gradients are averaged across ranks
 * in buckets (one all-reduce per ~25 MB of gradients) before every optimizer step, batch-norm
 * running statistics are made equal before validation and checkpoints, and the ranks agree on
 * stopping so that none is left waiting in a collective.
 * @module
 */
import { ValidationError } from '../errors.js'
import { BatchNorm1d, BatchNorm2d, type Module } from '../nn/index.js'
import { rankDevice, resolveDevice, type DeviceRequest } from './precision.js'
import {
  cat,
  checkBackendBuilt,
  distributedBackends,
  noGrad,
  scope,
  tensor,
  type Backend,
  type Device,
  type ProcessGroup,
  type Tensor,
} from '../torch/index.js'

/** How batch norm works across ranks (`--bn-stats`); see DataParallelOptions.bnStats. */
export type BnStats = 'rank0' | 'mean' | 'local' | 'sync'

/** `--backend`: a c10d backend, or auto (nccl for a CUDA run where built, else gloo). */
export type BackendRequest = Backend | 'auto'

/** `--backend` checked: auto, gloo or nccl. */
export function checkBackendRequest(value: unknown): BackendRequest {
  if (value === 'auto' || value === 'gloo' || value === 'nccl') return value
  throw new ValidationError(
    `Expected auto, gloo or nccl for --backend but received "${String(value)}"`,
  )
}

/**
 * The backend for a run on device: auto takes NCCL for GPUs when this pcam has it (Gloo would
 * copy every gradient bucket through the CPU) and Gloo otherwise. One asked for by name must be
 * built in, and NCCL needs a GPU.
 */
export function chooseBackend(request: BackendRequest, device: Device): Backend {
  const asked = checkBackendRequest(request)
  if (asked === 'auto')
    return device !== 'cpu' && distributedBackends().includes('nccl') ? 'nccl' : 'gloo'
  if (asked === 'nccl' && device === 'cpu')
    throw new ValidationError(
      'NCCL runs collectives on CUDA GPUs, and this run is on the CPU: use --backend gloo (or auto), or --device cuda.',
    )
  checkBackendBuilt(asked)
  return asked
}

/**
 * Refuses, before any rank starts, what every rank would refuse: a backend this pcam lacks, NCCL
 * on the CPU, or more local ranks than GPUs (one each).
 */
export function checkRankPlan(device: DeviceRequest, backend: BackendRequest, nproc: number): void {
  const resolved = resolveDevice(device)
  chooseBackend(backend, resolved)
  rankDevice(resolved, nproc - 1)
}

export interface DataParallelOptions {
  /** Gradient bytes per all-reduce. */
  bucketBytes?: number
  /**
   * Batch norm across ranks. sync: normalise with the statistics of the whole global batch
   * (PyTorch's SyncBatchNorm; running statistics then agree by themselves). Otherwise each rank
   * normalises with its own batch, and the running statistics become rank 0's (as DDP broadcasts
   * them), their mean over the ranks, or stay each rank's own (local; rank 0's are saved).
   */
  bnStats?: BnStats
}

/**
 * Runs one collective on the tensors laid end to end (one message instead of many), then copies
 * the result back into them. The tensors must share a dtype.
 */
function flatten(tensors: Tensor[], collective: (flat: Tensor) => void): void {
  noGrad(() =>
    scope(() => {
      const flat = cat(tensors.map((t) => t.reshape(-1)))
      collective(flat)
      let offset = 0
      for (const t of tensors) {
        const n = t.numel
        t.copy_(flat.slice(0, offset, offset + n).reshape(...t.shape))
        offset += n
      }
    }),
  )
}

/** This rank's side of data-parallel training: the collectives the learner calls on its model. */
export class DataParallel {
  /** Gradient bytes per all-reduce (default 25 MiB). */
  readonly bucketBytes: number
  /** How batch norm works across ranks (default rank0). */
  readonly bnStats: BnStats
  /** Seconds spent in gradient all-reduces so far (for benchmarks). */
  allReduceSeconds = 0

  constructor(
    /** The process group the collectives run in. */
    readonly group: ProcessGroup,
    options: DataParallelOptions = {},
  ) {
    this.bucketBytes = options.bucketBytes ?? 25 * 1024 * 1024
    this.bnStats = options.bnStats ?? 'rank0'
  }

  /** This process's rank in the group, 0 to worldSize - 1. */
  get rank(): number {
    return this.group.rank
  }
  /** Number of ranks in the group. */
  get worldSize(): number {
    return this.group.worldSize
  }

  /** Every rank starts from rank 0's weights; with bnStats sync, batch norm spans the ranks. */
  broadcastModel(model: Module): void {
    if (this.bnStats === 'sync') {
      for (const m of model.modules())
        if (m instanceof BatchNorm1d || m instanceof BatchNorm2d) m.syncGroup = this.group
    }
    const tensors = [...model.parameters(), ...model.buffers()]
    for (const dtype of new Set(tensors.map((t) => t.dtype))) {
      const same = tensors.filter((t) => t.dtype === dtype)
      flatten(same, (flat) => this.group.broadcast([flat], 0))
    }
  }

  /** Replaces each gradient by its mean over the ranks. */
  averageGradients(params: readonly Tensor[]): void {
    const started = performance.now()
    const withGrad = params.filter((p) => p.hasGrad)
    let bucket: Tensor[] = []
    let bytes = 0
    const flush = () => {
      if (bucket.length > 0) this.#reduceBucket(bucket)
      bucket = []
      bytes = 0
    }
    for (const p of withGrad) {
      bucket.push(p.grad as Tensor)
      bytes += (p.grad as Tensor).numel * 4
      if (bytes >= this.bucketBytes) flush()
    }
    flush()
    this.allReduceSeconds += (performance.now() - started) / 1000
  }

  #reduceBucket(grads: Tensor[]): void {
    flatten(grads, (flat) => this.group.allReduce([flat], 'mean'))
  }

  /** Makes the floating-point buffers (batch-norm running statistics) equal on every rank. */
  syncBuffers(model: Module): void {
    if (this.bnStats === 'local' || this.bnStats === 'sync') return
    const buffers = [...model.buffers()].filter((b) => b.dtype === 'float32')
    if (buffers.length === 0) return
    flatten(buffers, (flat) =>
      this.bnStats === 'mean'
        ? this.group.allReduce([flat], 'mean')
        : this.group.broadcast([flat], 0),
    )
  }

  /** True on every rank when any rank wants to stop. */
  anyTrue(flag: boolean): boolean {
    const t = tensor([flag ? 1 : 0])
    try {
      this.group.allReduce([t], 'max')
      return t.item() > 0
    } finally {
      t.dispose()
    }
  }

  /** Sums of a few numbers over the ranks. */
  sum(values: number[]): number[] {
    const t = tensor(values, { dtype: 'float64' })
    try {
      this.group.allReduce([t], 'sum')
      return [...(t.toArray() as number[])]
    } finally {
      t.dispose()
    }
  }

  /** This rank's values followed by the others', in rank order (the valid stretches in order). */
  gather(values: Float32Array): Float32Array {
    return scope(() => cat(this.group.allGather(tensor(values))).data() as Float32Array)
  }
}
