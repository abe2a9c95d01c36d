/**
 * The part of ONNX's protobuf schema that pcam writes and reads (ModelProto and what it holds),
 * with the field numbers of onnx/onnx.proto (IR version 8), encoded and decoded by protobufjs.
 * @see https://github.com/onnx/onnx/blob/main/onnx/onnx.proto
 * @module
 */
import protobuf from 'protobufjs'

const SCHEMA = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  optional string name = 1;
  optional string ref_attr_name = 21;
  optional string doc_string = 13;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
  optional string doc_string = 3;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
  optional string doc_string = 6;
}

message StringStringEntryProto {
  optional string key = 1;
  optional string value = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string domain = 4;
  optional int64 model_version = 5;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  optional string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}

message TensorProto {
  enum DataType {
    UNDEFINED = 0; FLOAT = 1; UINT8 = 2; INT8 = 3; UINT16 = 4; INT16 = 5; INT32 = 6;
    INT64 = 7; STRING = 8; BOOL = 9; FLOAT16 = 10; DOUBLE = 11; UINT32 = 12; UINT64 = 13;
  }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  repeated float float_data = 4 [packed = true];
  repeated int32 int32_data = 5 [packed = true];
  repeated int64 int64_data = 7 [packed = true];
  optional string name = 8;
  optional bytes raw_data = 9;
  optional string doc_string = 12;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
    optional string denotation = 3;
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
  optional string denotation = 6;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`

/** ONNX element types pcam uses (TensorProto.DataType). */
export const DataType = { FLOAT: 1, UINT8: 2 } as const

/** AttributeProto.AttributeType values pcam uses. */
export const AttributeType = { FLOAT: 1, INT: 2, INTS: 7 } as const

export interface TensorMessage {
  name: string
  dims: number[]
  dataType: number
  rawData: Uint8Array
}

export interface AttributeMessage {
  name: string
  type: number
  f?: number
  i?: number
  ints?: number[]
}

export interface NodeMessage {
  name: string
  opType: string
  input: string[]
  output: string[]
  attribute: AttributeMessage[]
}

export interface ValueInfoMessage {
  name: string
  type: {
    tensorType: {
      elemType: number
      shape: { dim: ({ dimValue: number } | { dimParam: string })[] }
    }
  }
}

export interface ModelMessage {
  irVersion: number
  opsetImport: { domain: string; version: number }[]
  producerName: string
  producerVersion: string
  docString?: string
  graph: {
    name: string
    node: NodeMessage[]
    initializer: TensorMessage[]
    input: ValueInfoMessage[]
    output: ValueInfoMessage[]
  }
  metadataProps: { key: string; value: string }[]
}

let modelType: protobuf.Type | null = null
function ModelProto(): protobuf.Type {
  modelType ??= protobuf.parse(SCHEMA, { keepCase: false }).root.lookupType('onnx.ModelProto')
  return modelType
}

/** The serialised model (what an .onnx file holds). */
export function encodeModel(model: ModelMessage): Uint8Array {
  const type = ModelProto()
  const problem = type.verify(model)
  if (problem) throw new Error(`Invalid ONNX model message: ${problem}`)
  return type.encode(type.fromObject(model)).finish()
}

/** Reads an .onnx file's bytes; throws protobufjs' error on bytes that are not a ModelProto. */
export function decodeModel(bytes: Uint8Array): ModelMessage {
  const type = ModelProto()
  const message = type.decode(bytes)
  // Weights stay as the bytes they are (no arrays of numbers): readers want the metadata and inputs.
  return type.toObject(message, { longs: Number, defaults: true }) as ModelMessage
}
