/**
 * Pieces of hand-made ONNX models for tests (crafted files the engine must refuse or read).
 * @module
 */
import type { ValueInfoMessage } from '../../src/export/onnx-proto.js'

/** A graph input or output: a tensor of `elemType` (ONNX's numbering), dims fixed or named. */
export function valueInfo(
  name: string,
  elemType: number,
  dims: (number | string)[],
): ValueInfoMessage {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })),
        },
      },
    },
  }
}
