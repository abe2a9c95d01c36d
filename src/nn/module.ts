/**
 * Module: the base of every layer and model, as torch.nn.Module. Children, parameters and
 * buffers are registered explicitly under PyTorch's names, so state dicts round-trip with torch.
 * @module
 */
import { StateDictError, ValidationError } from '../errors.js'
import { noGrad, keep, type Device, type Dtype, type Tensor } from '../torch/index.js'
import { Parameter } from './parameter.js'

/** Tensors by dotted name ("layer1.0.conv1.weight"), as PyTorch's state_dict. */
export type StateDict = Map<string, Tensor>

/**
 * Base class of layers and models: subclasses register their children, parameters and buffers,
 * and implement forward.
 */
export abstract class Module {
  /** True in training mode (dropout active, batch norm uses batch statistics). */
  training = true
  readonly #parameters = new Map<string, Parameter | null>()
  readonly #buffers = new Map<string, Tensor | null>()
  readonly #nonPersistent = new Set<string>()
  readonly #modules = new Map<string, Module>()

  /** The output for the inputs: a new tensor that belongs to the caller (or its scope()). */
  abstract forward(...inputs: Tensor[]): Tensor

  /**
   * Calls hook after every forward of this module; a tensor it returns replaces the output (as
   * PyTorch's register_forward_hook). Returns the means to remove it.
   */
  registerForwardHook(hook: (module: this, inputs: Tensor[], output: Tensor) => Tensor | void): {
    /** Unhooks it; hooks must be removed in the reverse order of registering them. */
    remove(): void
  } {
    // The hook wraps this instance's forward; removing it gives the class's own back.
    const own = Object.getPrototypeOf(this).forward as (...inputs: Tensor[]) => Tensor
    const wrapped = this.forward
    this.forward = (...inputs: Tensor[]) => {
      const output = wrapped.apply(this, inputs)
      return hook(this, inputs, output) ?? output
    }
    const installed = this.forward
    return {
      remove: () => {
        if (this.forward !== installed)
          throw new ValidationError('Remove forward hooks in the reverse order of registering them')
        if (wrapped === own) delete (this as { forward?: unknown }).forward
        else this.forward = wrapped
      },
    }
  }

  /** Adds a child module under `name` (no dots) and returns it, as PyTorch's register_module. */
  registerModule<M extends Module>(name: string, module: M): M {
    this.#checkName(name, this.#modules)
    this.#modules.set(name, module)
    return module
  }
  /** Adds a parameter (or null) under `name` (no dots) and returns it, as register_parameter. */
  registerParameter<P extends Parameter | null>(name: string, parameter: P): P {
    this.#checkName(name, this.#parameters)
    this.#parameters.set(name, parameter)
    return parameter
  }
  /** A tensor that is part of the state (running statistics) but not trained. */
  registerBuffer<T extends Tensor | null>(name: string, buffer: T, persistent = true): T {
    this.#checkName(name, this.#buffers)
    this.#buffers.set(name, buffer === null ? null : keep(buffer))
    if (!persistent) this.#nonPersistent.add(name)
    return buffer
  }
  #checkName(name: string, own: Map<string, unknown>): void {
    if (name === '' || name.includes('.')) {
      throw new ValidationError(`Expected a non-empty name without "." but received "${name}"`)
    }
    const taken = [this.#parameters, this.#buffers, this.#modules].some(
      (m) => m !== own && m.has(name),
    )
    if (taken || own.has(name))
      throw new ValidationError(`"${name}" is already registered in ${this.constructor.name}`)
  }

  /** The direct children with their names, in registration order. */
  *namedChildren(): Generator<[string, Module]> {
    yield* this.#modules.entries()
  }
  /** The direct children, in registration order. */
  *children(): Generator<Module> {
    yield* this.#modules.values()
  }
  /** This module and all below it, depth first, with dotted names ("" for this one). */
  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this]
    for (const [name, child] of this.#modules)
      yield* child.namedModules(prefix ? `${prefix}.${name}` : name)
  }
  /** This module and all below it, depth first. */
  *modules(): Generator<Module> {
    for (const [, module] of this.namedModules()) yield module
  }
  /** Parameters by dotted name under `prefix`; only this module's own when `recurse` is false. */
  *namedParameters(prefix = '', recurse = true): Generator<[string, Parameter]> {
    for (const [path, module] of recurse
      ? this.namedModules(prefix)
      : [[prefix, this] as [string, Module]]) {
      for (const [name, p] of module.#parameters)
        if (p !== null) yield [path ? `${path}.${name}` : name, p]
    }
  }
  /** The parameters here (and below, when `recurse`); they stay owned by the module. */
  *parameters(recurse = true): Generator<Parameter> {
    for (const [, p] of this.namedParameters('', recurse)) yield p
  }
  /** Where the weights are (its first parameter's device; 'cpu' for a module without any). */
  get device(): Device {
    return this.parameters().next().value?.device ?? 'cpu'
  }
  /** Buffers by dotted name under `prefix`; only this module's own when `recurse` is false. */
  *namedBuffers(prefix = '', recurse = true): Generator<[string, Tensor]> {
    for (const [path, module] of recurse
      ? this.namedModules(prefix)
      : [[prefix, this] as [string, Module]]) {
      for (const [name, b] of module.#buffers)
        if (b !== null) yield [path ? `${path}.${name}` : name, b]
    }
  }
  /** The buffers here (and below, when `recurse`); they stay owned by the module. */
  *buffers(recurse = true): Generator<Tensor> {
    for (const [, b] of this.namedBuffers('', recurse)) yield b
  }

  /**
   * Parameters and persistent buffers by dotted name, in PyTorch's order. The tensors are the
   * module's own (not copies): read them, do not dispose them.
   */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = new Map()
    for (const [name, p] of this.#parameters) if (p !== null) out.set(prefix + name, p)
    for (const [name, b] of this.#buffers) {
      if (b !== null && !this.#nonPersistent.has(name)) out.set(prefix + name, b)
    }
    for (const [name, child] of this.#modules) {
      for (const [key, value] of child.stateDict(`${prefix}${name}.`)) out.set(key, value)
    }
    return out
  }

  /**
   * Copies values from `state` into this module's tensors. Every problem (missing, unexpected,
   * wrong shape) is collected and reported in one StateDictError, in PyTorch's wording.
   */
  loadStateDict(
    state: StateDict,
    options: { strict?: boolean } = {},
  ): {
    /** Keys of this module that `state` lacks (reported, not thrown, when strict is false). */
    missing: string[]
    /** Keys of `state` this module lacks (reported, not thrown, when strict is false). */
    unexpected: string[]
  } {
    const strict = options.strict ?? true
    const own = this.stateDict()
    const missing = [...own.keys()].filter((k) => !state.has(k))
    const unexpected = [...state.keys()].filter((k) => !own.has(k))
    const problems: string[] = []
    for (const [key, target] of own) {
      const source = state.get(key)
      if (source === undefined) continue
      const [from, to] = [source.shape, target.shape]
      if (from.length !== to.length || from.some((d, i) => d !== to[i])) {
        problems.push(
          `size mismatch for ${key}: copying a param with shape [${from}] from checkpoint, ` +
            `the shape in current model is [${to}].`,
        )
      }
    }
    if (strict && unexpected.length > 0) {
      problems.unshift(
        `Unexpected key(s) in state_dict: ${unexpected.map((k) => `"${k}"`).join(', ')}.`,
      )
    }
    if (strict && missing.length > 0) {
      problems.unshift(`Missing key(s) in state_dict: ${missing.map((k) => `"${k}"`).join(', ')}.`)
    }
    if (problems.length > 0) throw new StateDictError(problems)
    noGrad(() => {
      for (const [key, target] of own) {
        const source = state.get(key)
        if (source !== undefined) target.copy_(source)
      }
    })
    return { missing, unexpected }
  }

  /** Sets training mode here and below; returns this. */
  train(mode = true): this {
    for (const module of this.modules()) module.training = mode
    return this
  }
  /** Sets evaluation mode here and below, as train(false); returns this. */
  eval(): this {
    return this.train(false)
  }

  /** Moves (or casts) every parameter and buffer in place; floating dtype casts skip integer buffers. */
  to(target: Device | Dtype): this {
    const isDevice = target === 'cpu' || target.startsWith('cuda')
    this.#convert((t) => {
      if (!isDevice && !t.dtype.startsWith('float') && t.dtype !== 'bfloat16') return null
      return t.to(target)
    })
    return this
  }

  /** Stores 4-D parameters and buffers channels-last (NHWC), the faster layout for oneDNN. */
  toChannelsLast(): this {
    this.#convert((t) => (t.ndim === 4 ? t.contiguous('channelsLast') : null))
    return this
  }

  #convert(fn: (t: Tensor) => Tensor | null): void {
    noGrad(() => {
      for (const t of [...this.parameters(), ...this.buffers()]) {
        const converted = fn(t)
        if (converted === null) continue
        t.setData_(converted)
        converted.dispose()
      }
    })
  }

  /** Drops the gradients of every parameter. */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null
  }

  /** Calls fn on every module below and including this one (children first), as nn.Module.apply. */
  apply(fn: (module: Module) => void): this {
    for (const child of this.children()) child.apply(fn)
    fn(this)
    return this
  }

  /** Frees every parameter and buffer. The module is unusable afterwards. */
  dispose(): void {
    for (const t of [...this.parameters(), ...this.buffers()]) t.dispose()
  }
  /** Calls dispose(), for `using` declarations. */
  [Symbol.dispose](): void {
    this.dispose()
  }

  /** The part of the printout between the parentheses, as nn.Module.extra_repr. */
  extraRepr(): string {
    return ''
  }
  /** A printout of the module tree, as PyTorch's repr of a module. */
  toString(): string {
    const children = [...this.namedChildren()].map(([name, child]) => {
      const text = child.toString().replace(/\n/g, '\n  ')
      return `  (${name}): ${text}`
    })
    const head = `${this.constructor.name}(${this.extraRepr()}`
    return children.length === 0 ? `${head})` : `${head}\n${children.join('\n')}\n)`
  }
}
