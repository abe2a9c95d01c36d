/**
 * Every error class pcam throws. Each carries a stable `code` so the CLI and the server can map
 * errors to exit codes and HTTP statuses without parsing messages.
 * @module
 */

/** Base class of all errors pcam raises on purpose. */
export class PcamError extends Error {
  /** Stable machine-readable code of the error's kind, e.g. "VALIDATION", "DATA" or "CONFIG". */
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
  /** Every problem found, in PyTorch's wording: missing keys, unexpected keys, size mismatches. */
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Error(s) in loading state_dict:\n\t${problems.join('\n\t')}`, 'STATE_DICT')
    this.problems = problems
  }
}

/** libtorch refused an operation (shape mismatch, out of memory, ...); the message is libtorch's. */
export class TorchError extends PcamError {}

/** An error as plain data, to cross a thread boundary (structured clone drops the class). */
export interface ErrorMessage {
  name: string
  code?: string
  message: string
  stack?: string
}

const ERROR_CLASSES: Record<string, new (message: string) => PcamError> = {
  VALIDATION: ValidationError,
  CONFIG: ConfigError,
  DATA: DataError,
  DEVICE: DeviceError,
}

/** What errorFromMessage() needs to rebuild the error on the other side. */
export function errorToMessage(error: unknown): ErrorMessage {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error) }
  const code = error instanceof PcamError ? error.code : undefined
  return { name: error.name, code, message: error.message, stack: error.stack }
}

/** The error errorToMessage() described: a PcamError of the same class and code where known. */
export function errorFromMessage(message: ErrorMessage): Error {
  const Known = message.code ? ERROR_CLASSES[message.code] : undefined
  let error: Error
  if (Known) error = new Known(message.message)
  else if (message.code?.startsWith('TORCH')) error = new TorchError(message.message, message.code)
  else if (message.code) error = new PcamError(message.message, message.code)
  else error = new Error(message.message)
  error.name = message.name
  if (message.stack) error.stack = message.stack
  return error
}
