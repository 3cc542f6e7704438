/**
 * ONNX model serialisation: the subset of onnx.proto the engine's graphs need, encoded with
 * protobufjs. Field numbers follow onnx/onnx.proto (IR version 10, opset 18+).
 */
import protobuf from 'protobufjs'

// proto2 like onnx.proto itself. Only the fields we write are declared; the numbers must match
// upstream exactly, names are ours (keepCase keeps them as written).
const ONNX_SUBSET = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType {
    UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5;
    FLOATS = 6; INTS = 7; STRINGS = 8; TENSORS = 9; GRAPHS = 10;
  }
  optional string name = 1;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  optional TensorProto t = 5;
  optional GraphProto g = 6;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  optional AttributeType type = 20;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  repeated AttributeProto attribute = 5;
  optional string domain = 7;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
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
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}

message TensorProto {
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}

message ModelProto {
  optional int64 ir_version = 1;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional GraphProto graph = 7;
  repeated OperatorSetIdProto opset_import = 8;
}
`

/** TensorProto.DataType values for the element types the engine uses. */
export const DataType = {
  FLOAT: 1,
  INT64: 7,
  BOOL: 9,
  DOUBLE: 11
} as const
export type ElemType = 'float32' | 'float64' | 'int64' | 'bool'

const ELEM_TYPE_CODES: Record<ElemType, number> = {
  float32: DataType.FLOAT,
  float64: DataType.DOUBLE,
  int64: DataType.INT64,
  bool: DataType.BOOL
}

const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, GRAPH: 5, FLOATS: 6, INTS: 7 } as const

/** IR version 10 pairs with opset 21/22; ORT 1.30 accepts opsets up to 26. */
export const IR_VERSION = 10
export const DEFAULT_OPSET = 21

/** A graph attribute value: number[] is `ints` unless every entry was declared as a float. */
export type AttributeValue =
  | { int: number }
  | { ints: number[] }
  | { float: number }
  | { floats: number[] }
  | { string: string }
  | { graph: GraphSpec }

export interface NodeSpec {
  op: string
  inputs: string[]
  outputs: string[]
  name?: string
  attributes?: Record<string, AttributeValue>
}

/** A string dimension is symbolic (dim_param), a number is fixed. */
export type Dim = string | number

export interface ValueSpec {
  name: string
  type: ElemType
  shape: Dim[]
}

export interface InitializerSpec {
  name: string
  dims: number[]
  data: Float32Array | Float64Array | BigInt64Array
}

export interface GraphSpec {
  name: string
  nodes: NodeSpec[]
  inputs: ValueSpec[]
  outputs: ValueSpec[]
  initializers?: InitializerSpec[]
}

export interface ModelSpec {
  graph: GraphSpec
  opset?: number
}

let modelType: protobuf.Type | undefined

function onnxModelType (): protobuf.Type {
  // Parsed lazily: parsing costs ~20 ms and processes that never build a model should not pay it.
  if (modelType === undefined) {
    const root = protobuf.parse(ONNX_SUBSET, { keepCase: true }).root
    modelType = root.lookupType('onnx.ModelProto')
  }
  return modelType
}

function elemTypeOfData (data: InitializerSpec['data']): number {
  if (data instanceof Float32Array) return DataType.FLOAT
  if (data instanceof Float64Array) return DataType.DOUBLE
  return DataType.INT64
}

/** raw_data is little-endian; every platform ORT runs on here is little-endian, so a byte view suffices. */
function rawBytes (data: InitializerSpec['data']): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

function tensorMessage (init: InitializerSpec): Record<string, unknown> {
  const count = init.dims.reduce((a, b) => a * b, 1)
  if (count !== init.data.length) {
    throw new RangeError(`initializer ${init.name}: dims ${init.dims.join('x')} need ${count} values, got ${init.data.length}`)
  }
  return {
    name: init.name,
    dims: init.dims,
    data_type: elemTypeOfData(init.data),
    raw_data: rawBytes(init.data)
  }
}

function valueInfoMessage (value: ValueSpec): Record<string, unknown> {
  return {
    name: value.name,
    type: {
      tensor_type: {
        elem_type: ELEM_TYPE_CODES[value.type],
        shape: { dim: value.shape.map(d => typeof d === 'string' ? { dim_param: d } : { dim_value: d }) }
      }
    }
  }
}

function attributeMessage (name: string, value: AttributeValue): Record<string, unknown> {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int }
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: value.ints }
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float }
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats }
  if ('string' in value) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) }
  return { name, type: AttributeType.GRAPH, g: graphMessage(value.graph) }
}

function graphMessage (graph: GraphSpec): Record<string, unknown> {
  return {
    name: graph.name,
    node: graph.nodes.map((node, index) => ({
      name: node.name ?? `${node.op}_${index}`,
      op_type: node.op,
      input: node.inputs,
      output: node.outputs,
      attribute: Object.entries(node.attributes ?? {}).map(([key, value]) => attributeMessage(key, value))
    })),
    initializer: (graph.initializers ?? []).map(tensorMessage),
    input: graph.inputs.map(valueInfoMessage),
    output: graph.outputs.map(valueInfoMessage)
  }
}

/** Serialises a model to the bytes `InferenceSession.create` accepts. */
export function encodeModel (spec: ModelSpec): Uint8Array {
  const type = onnxModelType()
  const message = type.fromObject({
    ir_version: IR_VERSION,
    producer_name: 'latentbridge',
    opset_import: [{ domain: '', version: spec.opset ?? DEFAULT_OPSET }],
    graph: graphMessage(spec.graph)
  })
  return type.encode(message).finish()
}

/** Decodes model bytes back to a plain object (tests and debugging). */
export function decodeModel (bytes: Uint8Array): Record<string, unknown> {
  const type = onnxModelType()
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Array, defaults: false })
}
