/**
 * Every error class pcam throws. Each carries a stable `code` so the CLI and the server can map
 * errors to exit codes and HTTP statuses without parsing messages.
 * @module
 */

/** Base class of all errors pcam raises on purpose. */
export class PcamError extends Error {
  readonly code: string
  constructor(message: string, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** An argument has the wrong type or is out of range. */
export class ValidationError extends PcamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'VALIDATION', options)
  }
}

/** The installation or configuration is incomplete (missing libtorch, unbuilt addon, ...). */
export class ConfigError extends PcamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'CONFIG', options)
  }
}

/** Input data is missing, unreadable or inconsistent. */
export class DataError extends PcamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'DATA', options)
  }
}

/** A device was requested that this machine or this libtorch build does not have. */
export class DeviceError extends PcamError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'DEVICE', options)
  }
}

/** A state dict does not fit the module it is loaded into; lists every problem at once. */
export class StateDictError extends PcamError {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Error(s) in loading state_dict:\n\t${problems.join('\n\t')}`, 'STATE_DICT')
    this.problems = problems
  }
}

/** libtorch refused an operation (shape mismatch, out of memory, ...); the message is libtorch's. */
export class TorchError extends PcamError {}
