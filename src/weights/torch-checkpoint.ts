/**
 * Reads the state dicts PyTorch writes with torch.save (the zip format of PyTorch 1.6 and later,
 * in which torchvision publishes its ImageNet weights as .pth files). The pickle inside is
 * interpreted by a small stack machine that knows only what a state dict needs (ordered dicts,
 * tensors rebuilt from storages, numbers, strings); any other object is refused, so, unlike
 * Python's pickle, reading a file can never run code.
 * @module
 */
import { DataError, PcamError } from '../errors.js'
import { ZipTree } from '../data/tree.js'
import { DTYPE_BYTES, fromBytes, type Dtype, type Tensor } from '../torch/index.js'

const STORAGE_DTYPES: Record<string, Dtype> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ByteStorage: 'uint8',
  CharStorage: 'int8',
  BoolStorage: 'bool',
}
interface Global {
  kind: 'global'
  name: string
}
interface StorageRef {
  kind: 'storage'
  key: string
  dtype: Dtype
}
interface TensorRef {
  kind: 'tensor'
  storage: StorageRef
  offset: number
  size: number[]
  stride: number[]
}
type Value =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Value[]
  | Map<Value, Value>
  | Global
  | StorageRef
  | TensorRef
  | { kind: 'mark' }

const MARK = { kind: 'mark' } as const

/**
 * Bounds that keep a crafted checkpoint from exhausting memory. A state dict's pickle is small
 * (ResNet50's is about 30 KB, 320 tensors of ~15 values each), so these leave room for models
 * a hundred times larger while refusing a pickle that would build millions of objects.
 */
export const PICKLE_LIMITS = {
  /** data.pkl, inflated. */
  bytes: 16 * 2 ** 20,
  /** Values built while interpreting it (each opcode builds at most one). */
  values: 2_000_000,
  /** Depth of the interpreter's stack. */
  stack: 100_000,
}

function isKind<K extends string>(v: Value, kind: K): v is Extract<Value, { kind: K }> {
  return typeof v === 'object' && v !== null && 'kind' in v && v.kind === kind
}

/** What REDUCE may call: the few constructors a state dict uses. */
function call(fn: Value, args: Value[], file: string): Value {
  if (!isKind(fn, 'global')) throw new DataError(`${file}: a call of something not a class`)
  switch (fn.name) {
    case 'collections.OrderedDict':
      return new Map()
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, size, stride] = args
      if (!isKind(storage as Value, 'storage'))
        throw new DataError(`${file}: a tensor without a storage`)
      return {
        kind: 'tensor',
        storage: storage as StorageRef,
        offset: offset as number,
        size: size as number[],
        stride: stride as number[],
      }
    }
    case 'torch._utils._rebuild_parameter':
      return args[0] as Value
    default:
      throw new DataError(
        `${file} holds a ${fn.name}, which pcam does not read (it reads state dicts of tensors only).`,
      )
  }
}

/**
 * Interprets a pickle (protocols 2-4) with the opcodes torch.save writes for a state dict. A
 * malformed pickle (wrong operand types, reads past its end) is a DataError naming the file.
 */
export function unpickle(data: Buffer, file: string): Value {
  try {
    return interpret(data, file)
  } catch (error) {
    if (error instanceof PcamError) throw error
    throw new DataError(
      `${file} is not a valid PyTorch checkpoint: its pickle is malformed (${(error as Error).message})`,
      { cause: error },
    )
  }
}

function interpret(data: Buffer, file: string): Value {
  const stack: Value[] = []
  const memo = new Map<number, Value>()
  let at = 0
  const u8 = () => data[at++] as number
  const u16 = () => ((at += 2), data.readUInt16LE(at - 2))
  const i32 = () => ((at += 4), data.readInt32LE(at - 4))
  const u32 = () => ((at += 4), data.readUInt32LE(at - 4))
  const text = (n: number) => ((at += n), data.toString('utf8', at - n, at))
  let built = 0
  const push = (v: Value) => {
    if (++built > PICKLE_LIMITS.values)
      throw new DataError(
        `${file}: its pickle builds more than ${PICKLE_LIMITS.values} values, far more than a state dict has`,
      )
    if (stack.length >= PICKLE_LIMITS.stack)
      throw new DataError(
        `${file}: its pickle nests deeper than ${PICKLE_LIMITS.stack} values, far more than a state dict does`,
      )
    stack.push(v)
  }
  const remember = (key: number) => {
    if (stack.length === 0) throw new DataError(`${file}: corrupt pickle (memo of an empty stack)`)
    if (memo.size >= PICKLE_LIMITS.values && !memo.has(key))
      throw new DataError(`${file}: its pickle memoizes more than ${PICKLE_LIMITS.values} values`)
    memo.set(key, stack.at(-1) as Value)
  }
  const recall = (key: number) => {
    if (!memo.has(key)) throw new DataError(`${file}: corrupt pickle (memo ${key} was never set)`)
    push(memo.get(key) as Value)
  }
  const line = () => {
    const end = data.indexOf(0x0a, at)
    // Without this check a missing newline (-1) would send parsing back to byte 0, forever.
    if (end < 0) throw new DataError(`${file}: the pickle ends inside a GLOBAL's name`)
    const s = data.toString('latin1', at, end)
    at = end + 1
    return s
  }
  const popMark = (): Value[] => {
    const i = stack.lastIndexOf(MARK)
    if (i < 0) throw new DataError(`${file}: corrupt pickle (no mark)`)
    const items = stack.splice(i)
    items.shift()
    return items
  }
  const pop = () => {
    if (stack.length === 0) throw new DataError(`${file}: corrupt pickle (empty stack)`)
    return stack.pop() as Value
  }
  const setItems = (target: Value, items: Value[]) => {
    if (!(target instanceof Map)) throw new DataError(`${file}: items set on a non-dict`)
    for (let k = 0; k + 1 < items.length; k += 2)
      target.set(items[k] as Value, items[k + 1] as Value)
  }
  for (;;) {
    if (at >= data.length) throw new DataError(`${file}: the pickle ends without STOP`)
    const op = u8()
    switch (op) {
      case 0x80: // PROTO
        u8()
        break
      case 0x95: // FRAME
        at += 8
        break
      case 0x2e: // STOP
        return pop()
      case 0x28: // MARK
        push(MARK)
        break
      case 0x63: {
        // GLOBAL module\nname\n
        const module = line()
        push({ kind: 'global', name: `${module}.${line()}` })
        break
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop() as string
        push({ kind: 'global', name: `${pop() as string}.${name}` })
        break
      }
      case 0x71: // BINPUT
        remember(u8())
        break
      case 0x72: // LONG_BINPUT
        remember(u32())
        break
      case 0x94: // MEMOIZE
        remember(memo.size)
        break
      case 0x68: // BINGET
        recall(u8())
        break
      case 0x6a: // LONG_BINGET
        recall(u32())
        break
      case 0x29: // EMPTY_TUPLE
      case 0x5d: // EMPTY_LIST
        push([])
        break
      case 0x7d: // EMPTY_DICT
        push(new Map())
        break
      case 0x74: // TUPLE
        push(popMark())
        break
      case 0x85: // TUPLE1
        push([pop()])
        break
      case 0x86: {
        // TUPLE2
        const b = pop()
        push([pop(), b])
        break
      }
      case 0x87: {
        // TUPLE3
        const c = pop()
        const b = pop()
        push([pop(), b, c])
        break
      }
      case 0x61: {
        // APPEND
        const item = pop()
        ;(stack.at(-1) as Value[]).push(item)
        break
      }
      case 0x65: {
        // APPENDS
        const items = popMark()
        ;(stack.at(-1) as Value[]).push(...items)
        break
      }
      case 0x73: {
        // SETITEM
        const value = pop()
        const key = pop()
        setItems(stack.at(-1) as Value, [key, value])
        break
      }
      case 0x75: {
        // SETITEMS
        const items = popMark()
        setItems(stack.at(-1) as Value, items)
        break
      }
      case 0x58: // BINUNICODE
        push(text(u32()))
        break
      case 0x8c: // SHORT_BINUNICODE
        push(text(u8()))
        break
      case 0x8d: // BINUNICODE8
        push(text(Number(((at += 8), data.readBigUInt64LE(at - 8)))))
        break
      case 0x42: // BINBYTES
      case 0x43: {
        // SHORT_BINBYTES
        const n = op === 0x42 ? u32() : u8()
        push(data.subarray(at, (at += n)))
        break
      }
      case 0x4a: // BININT
        push(i32())
        break
      case 0x4b: // BININT1
        push(u8())
        break
      case 0x4d: // BININT2
        push(u16())
        break
      case 0x8a: {
        // LONG1: little-endian two's complement
        const n = u8()
        let value = 0n
        for (let k = n - 1; k >= 0; k--) value = (value << 8n) | BigInt(data[at + k] as number)
        if (n > 0 && ((data[at + n - 1] as number) & 0x80) !== 0) value -= 1n << BigInt(8 * n)
        at += n
        push(Number(value))
        break
      }
      case 0x47: // BINFLOAT (big-endian)
        push(((at += 8), data.readDoubleBE(at - 8)))
        break
      case 0x4e: // NONE
        push(null)
        break
      case 0x88: // NEWTRUE
        push(true)
        break
      case 0x89: // NEWFALSE
        push(false)
        break
      case 0x52: {
        // REDUCE
        const args = pop() as Value[]
        push(call(pop(), args, file))
        break
      }
      case 0x62: // BUILD: state set on an object (a state dict's _metadata): not needed
        pop()
        break
      case 0x51: {
        // BINPERSID: ('storage', StorageType, key, location, numel)
        const id = pop() as Value[]
        const type = id[1] as Value
        const dtype = isKind(type, 'global')
          ? STORAGE_DTYPES[type.name.replace(/^torch\./, '')]
          : undefined
        if (id[0] !== 'storage' || !dtype)
          throw new DataError(`${file}: unsupported storage ${JSON.stringify(id.slice(0, 2))}`)
        push({ kind: 'storage', key: String(id[2]), dtype })
        break
      }
      default:
        throw new DataError(
          `${file}: pickle opcode 0x${op.toString(16)} at byte ${at - 1} is not one a state dict uses`,
        )
    }
  }
}

function contiguousStrides(size: number[]): number[] {
  const strides = new Array<number>(size.length).fill(1)
  for (let d = size.length - 2; d >= 0; d--)
    strides[d] = (strides[d + 1] as number) * (size[d + 1] as number)
  return strides
}

/**
 * The tensors of a checkpoint written by torch.save, by name. A torchvision .pth file is such a
 * state dict; one saved by an older PyTorch (before 1.6, not a zip) gets a message saying so.
 */
export async function readTorchCheckpoint(path: string): Promise<Map<string, Tensor>> {
  let zip: ZipTree
  try {
    zip = await ZipTree.open([path])
  } catch (error) {
    throw new DataError(
      `${path} is not a zip-format PyTorch checkpoint (PyTorch 1.6 or later saves those): ` +
        `${(error as Error).message.replace(`${path}: `, '')}. Re-save it with torch.save, or convert it to safetensors.`,
      { cause: error },
    )
  }
  try {
    const files = await zip.files()
    const pickle = files.find((f) => f.endsWith('data.pkl'))
    if (!pickle) throw new DataError(`${path} has no data.pkl: not a PyTorch checkpoint`)
    const prefix = pickle.slice(0, -'data.pkl'.length)
    const root = unpickle(
      await zip.read(pickle, {
        bytes: PICKLE_LIMITS.bytes,
        what: "a state dict's pickle (data.pkl)",
      }),
      path,
    )
    const dict = root instanceof Map ? root : null
    if (!dict) throw new DataError(`${path} does not hold a state dict (a dict of tensors)`)
    // A storage is read no larger than the tensors that use it need, so a deflate bomb in place
    // of one is refused when its inflated bytes pass that, not when memory runs out.
    const needed = new Map<string, number>()
    for (const value of dict.values()) {
      if (!isKind(value, 'tensor') || !Array.isArray(value.size)) continue
      const numel = value.size.reduce((a: number, b) => a * Number(b), 1)
      const end = (Number(value.offset) + numel) * DTYPE_BYTES[value.storage.dtype]
      if (Number.isFinite(end))
        needed.set(value.storage.key, Math.max(end, needed.get(value.storage.key) ?? 0))
    }
    const storages = new Map<string, Buffer>()
    const tensors = new Map<string, Tensor>()
    for (const [name, value] of dict) {
      if (typeof name !== 'string' || !isKind(value, 'tensor')) continue
      const { storage, offset, size, stride } = value
      const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0
      if (
        !count(offset) ||
        !Array.isArray(size) ||
        !size.every(count) ||
        !Array.isArray(stride) ||
        stride.length !== size.length
      )
        throw new DataError(`${path}: ${name} has a malformed shape, stride or offset`)
      const numel = size.reduce((a, b) => a * b, 1)
      if (
        numel > 1 &&
        contiguousStrides(size).some((s, d) => s !== stride[d] && (size[d] as number) > 1)
      )
        throw new DataError(`${path}: ${name} is stored non-contiguous, which pcam does not read`)
      let bytes = storages.get(storage.key)
      if (!bytes) {
        bytes = await zip.read(`${prefix}data/${storage.key}`, {
          bytes: needed.get(storage.key) ?? 0,
          what: 'the storage of its tensors',
        })
        storages.set(storage.key, bytes)
      }
      const item = DTYPE_BYTES[storage.dtype]
      const region = bytes.subarray(offset * item, (offset + numel) * item)
      if (region.length !== numel * item)
        throw new DataError(`${path}: the storage of ${name} is shorter than its shape`)
      tensors.set(name, fromBytes(new Uint8Array(region), storage.dtype, size))
    }
    return tensors
  } finally {
    await zip.close()
  }
}
