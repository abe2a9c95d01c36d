/**
 * PyTorch's c10d process groups from TypeScript: a TCP-store rendezvous, and collectives
 * (all-reduce, broadcast, all-gather, barrier) by Gloo on the CPU or by NCCL on a GPU. Calls
 * block until the collective is done on this rank, so they belong in a worker thread. A peer
 * that dies or stalls makes the next collective fail after the timeout with the backend's
 * reason, never hang for good.
 * @module
 */
import { hostname } from 'node:os'
import { ConfigError, ValidationError } from '../errors.js'
import { native } from './native.js'
import { cat, zeros } from './creation.js'
import { scope } from './scope.js'
import { cudaIndex, type Device } from './device.js'
import { handles, kHandle, Tensor } from './tensor.js'

/** A c10d backend: gloo (CPU tensors, TCP) or nccl (CUDA tensors, one GPU per rank). */
export type Backend = 'gloo' | 'nccl'

/** The backends this build of pcam has: gloo with Gloo's headers, nccl with a CUDA libtorch and NCCL. */
export function distributedBackends(): Backend[] {
  return native.distBackends.split(',').filter((b): b is Backend => b === 'gloo' || b === 'nccl')
}

/** How ProcessGroup.init joins a group, as torch.distributed.init_process_group's arguments. */
export interface ProcessGroupOptions {
  /** This process's rank, 0 to worldSize - 1. */
  rank: number
  /** Number of processes in the group. */
  worldSize: number
  /** Host of rank 0's TCP store that every rank connects to, as MASTER_ADDR. */
  masterAddr: string
  /** Port of that TCP store, as MASTER_PORT. */
  masterPort: number
  /**
   * How long a rendezvous or collective may wait for the other ranks: default 60 s for gloo, and
   * 10 minutes for nccl, whose watchdog ends the process (not just the call) when it passes, as
   * rank 0 may be writing a checkpoint while the others wait.
   */
  timeoutMs?: number
  /**
   * The address Gloo binds on this machine: default $PCAM_GLOO_HOST, else loopback when the
   * master is on loopback, else this machine's hostname (which must resolve to a reachable address).
   */
  host?: string
  /** gloo (default; collectives on the CPU) or nccl (on this rank's GPU, `device`). */
  backend?: Backend
  /** For nccl, this rank's GPU (default cuda:0); tensors elsewhere are copied there and back. */
  device?: Device
}

/** How allReduce combines the ranks' values, as torch.distributed.ReduceOp. */
export type ReduceOp = 'sum' | 'mean' | 'max' | 'min'

/** Throws, naming the fix, when this build of pcam lacks the backend. */
export function checkBackendBuilt(backend: Backend): void {
  if (distributedBackends().includes(backend) && native.distInit) return
  throw new ConfigError(
    backend === 'gloo'
      ? 'This pcam was built without Gloo, c10d\'s CPU backend: install Gloo\'s headers ("sudo apt-get install libgloo-dev") and rebuild ("make build").'
      : 'This pcam was built without NCCL, c10d\'s GPU backend: it needs a CUDA libtorch and the headers of NCCL and the CUDA runtime (pip\'s nvidia-nccl and nvidia-cuda-runtime packages, or $CUDA_HOME/include), then "make build". Or use --backend gloo.',
  )
}

function binding(backend: Backend = 'gloo') {
  checkBackendBuilt(backend)
  return native as Required<typeof native>
}

function defaultHost(masterAddr: string): string {
  if (process.env.PCAM_GLOO_HOST) return process.env.PCAM_GLOO_HOST
  return /^(127\.|localhost$|::1$)/.test(masterAddr) ? '127.0.0.1' : hostname()
}

/**
 * A process group for data-parallel training; made by ProcessGroup.init. Its collectives run on
 * its device (the CPU for gloo, the rank's GPU for nccl): a tensor elsewhere is copied there for
 * the collective and the result copied back, so callers need not know the backend.
 */
export class ProcessGroup {
  /** This process's rank, 0 to worldSize - 1. */
  readonly rank: number
  /** Number of processes in the group. */
  readonly worldSize: number
  /** The c10d backend that runs the collectives. */
  readonly backend: Backend
  /** Where the collectives run: 'cpu' for gloo, this rank's GPU for nccl. */
  readonly device: Device
  #handle: unknown

  private constructor(
    handle: unknown,
    rank: number,
    worldSize: number,
    backend: Backend,
    device: Device,
  ) {
    this.#handle = handle
    this.rank = rank
    this.worldSize = worldSize
    this.backend = backend
    this.device = device
  }

  /** Joins the group: returns once all worldSize ranks have connected (or throws at the timeout). */
  static init(options: ProcessGroupOptions): ProcessGroup {
    const { rank, worldSize, masterAddr, masterPort } = options
    const backend = options.backend ?? 'gloo'
    if (backend !== 'gloo' && backend !== 'nccl')
      throw new ValidationError(
        `Expected gloo or nccl for backend but received "${String(backend)}"`,
      )
    if (backend === 'nccl' && options.device === 'cpu')
      throw new ValidationError(
        'nccl runs collectives on CUDA GPUs; a CPU run uses gloo (--backend gloo or auto)',
      )
    const device: Device =
      backend === 'nccl' ? `cuda:${cudaIndex(options.device ?? 'cuda')}` : 'cpu'
    if (!(Number.isInteger(worldSize) && worldSize >= 1))
      throw new ValidationError(`worldSize must be a positive integer, not ${worldSize}`)
    if (!(Number.isInteger(rank) && rank >= 0 && rank < worldSize))
      throw new ValidationError(`rank must be in 0..${worldSize - 1}, not ${rank}`)
    if (!(Number.isInteger(masterPort) && masterPort > 0 && masterPort < 65536))
      throw new ValidationError(`masterPort must be a port number, not ${masterPort}`)
    const handle = binding(backend).distInit(
      masterAddr,
      masterPort,
      rank,
      worldSize,
      options.timeoutMs ?? (backend === 'nccl' ? 600_000 : 60_000),
      options.host ?? defaultHost(masterAddr),
      backend,
    )
    return new ProcessGroup(handle, rank, worldSize, backend, device)
  }

  get #group(): unknown {
    if (this.#handle === null) throw new ValidationError('The process group was destroyed')
    return this.#handle
  }

  /** Runs a collective on t where this group's collectives run, copying the result back. */
  #onDevice(t: Tensor, collective: (here: Tensor) => void): void {
    if (t.device === this.device) return collective(t)
    const here = t.to(this.device)
    try {
      collective(here)
      t.copy_(here)
    } finally {
      here.dispose()
    }
  }

  /**
   * Reduces every tensor over the ranks, in place ('mean' divides the sum by worldSize). One
   * collective per tensor: flatten many small ones into one first (as DataParallel does).
   */
  allReduce(tensors: Tensor[], op: ReduceOp = 'sum'): void {
    for (const t of tensors) {
      this.#onDevice(t, (here) =>
        binding(this.backend).distAllReduce(
          this.#group,
          handles([here]),
          op === 'mean' ? 'sum' : op,
        ),
      )
      if (op === 'mean') t.div_(this.worldSize)
    }
  }

  /**
   * The sum over the ranks as a new tensor that autograd differentiates: the gradient that
   * reaches it is summed over the ranks in backward (what synchronised batch norm needs).
   */
  allReduceSumAutograd(tensor: Tensor): Tensor {
    const reduce = (t: Tensor) =>
      new Tensor(binding(this.backend).distAllReduceSumAutograd(this.#group, t[kHandle]))
    if (tensor.device === this.device) return reduce(tensor)
    // The copies are differentiable too, so the gradient finds its way back to tensor's device.
    const here = tensor.to(this.device)
    try {
      const summed = reduce(here)
      try {
        return summed.to(tensor.device)
      } finally {
        summed.dispose()
      }
    } finally {
      here.dispose()
    }
  }

  /** Every rank receives root's values, in place; one collective per tensor. */
  broadcast(tensors: Tensor[], root = 0): void {
    for (const t of tensors)
      this.#onDevice(t, (here) =>
        binding(this.backend).distBroadcast(this.#group, handles([here]), root),
      )
  }

  /** One tensor per rank, all of the same shape, on this group's device. */
  #gatherSame(tensor: Tensor): Tensor[] {
    return binding(this.backend)
      .distAllGather(this.#group, tensor[kHandle])
      .map((h) => new Tensor(h))
  }

  /**
   * One tensor per rank, in rank order, on tensor's device. Ranks may hold different lengths
   * along dimension 0 (a shard of an uneven split): lengths are exchanged first and the tensors
   * padded for the transfer.
   */
  allGather(tensor: Tensor): Tensor[] {
    const device = this.device
    return scope(() => {
      const length = zeros([1], { device }).add_(tensor.shape[0] ?? 0)
      const sizes = this.#gatherSame(length).map((l) => l.item())
      const longest = Math.max(...sizes)
      const rest = tensor.shape.slice(1)
      const here = tensor.to(device).contiguous()
      const padded =
        longest === tensor.shape[0]
          ? here
          : cat(
              [
                here,
                zeros([longest - (tensor.shape[0] ?? 0), ...rest], { dtype: tensor.dtype, device }),
              ],
              0,
            )
      // A copy of each rank's own rows (a leading slice of a contiguous tensor stays contiguous);
      // the scope frees everything else made here.
      return this.#gatherSame(padded).map((t, r) =>
        t.slice(0, 0, sizes[r] as number).to(tensor.device),
      )
    })
  }

  /** Blocks until every rank has reached it. */
  barrier(): void {
    if (this.backend === 'gloo') return binding().distBarrier(this.#group)
    // NCCL's own barrier guesses each rank's GPU; a one-number all-reduce on ours cannot, and
    // reading the result waits for it on the host.
    const token = zeros([1], { device: this.device })
    try {
      this.allReduce([token])
      token.item()
    } finally {
      token.dispose()
    }
  }

  /** Closes the connections. */
  destroy(): void {
    if (this.#handle === null) return
    binding(this.backend).distDestroy(this.#handle)
    this.#handle = null
  }
}
