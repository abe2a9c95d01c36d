// Elementwise math, reductions, views and indexing. Elementwise ops are dispatched by name from
// one table each, so adding an op is one line here and one in src/torch.
#include <functional>
#include <unordered_map>

#include "common.h"

namespace pcam {

using Unary = std::function<at::Tensor(const at::Tensor&)>;
static const std::unordered_map<std::string, Unary> kUnary = {
    {"neg", [](const at::Tensor& x) { return at::neg(x); }},
    {"abs", [](const at::Tensor& x) { return at::abs(x); }},
    {"exp", [](const at::Tensor& x) { return at::exp(x); }},
    {"log", [](const at::Tensor& x) { return at::log(x); }},
    {"log1p", [](const at::Tensor& x) { return at::log1p(x); }},
    {"sqrt", [](const at::Tensor& x) { return at::sqrt(x); }},
    {"rsqrt", [](const at::Tensor& x) { return at::rsqrt(x); }},
    {"square", [](const at::Tensor& x) { return at::square(x); }},
    {"reciprocal", [](const at::Tensor& x) { return at::reciprocal(x); }},
    {"sign", [](const at::Tensor& x) { return at::sign(x); }},
    {"floor", [](const at::Tensor& x) { return at::floor(x); }},
    {"ceil", [](const at::Tensor& x) { return at::ceil(x); }},
    {"round", [](const at::Tensor& x) { return at::round(x); }},
    {"sigmoid", [](const at::Tensor& x) { return at::sigmoid(x); }},
    {"tanh", [](const at::Tensor& x) { return at::tanh(x); }},
    {"relu", [](const at::Tensor& x) { return at::relu(x); }},
    {"isnan", [](const at::Tensor& x) { return at::isnan(x); }},
    {"isfinite", [](const at::Tensor& x) { return at::isfinite(x); }},
    {"logicalNot", [](const at::Tensor& x) { return at::logical_not(x); }},
};

// Binary ops take a tensor or a number as their second operand.
struct Binary {
  std::function<at::Tensor(const at::Tensor&, const at::Tensor&)> tensor;
  std::function<at::Tensor(const at::Tensor&, const at::Scalar&)> scalar;
};
#define PCAM_BINARY(fn)                                                          \
  Binary {                                                                       \
    [](const at::Tensor& a, const at::Tensor& b) { return at::fn(a, b); },       \
        [](const at::Tensor& a, const at::Scalar& b) { return at::fn(a, b); }    \
  }
static const std::unordered_map<std::string, Binary> kBinary = {
    {"add", PCAM_BINARY(add)},
    {"sub", PCAM_BINARY(sub)},
    {"mul", PCAM_BINARY(mul)},
    {"div", PCAM_BINARY(div)},
    {"pow", PCAM_BINARY(pow)},
    {"remainder", PCAM_BINARY(remainder)},
    {"eq", PCAM_BINARY(eq)},
    {"ne", PCAM_BINARY(ne)},
    {"lt", PCAM_BINARY(lt)},
    {"le", PCAM_BINARY(le)},
    {"gt", PCAM_BINARY(gt)},
    {"ge", PCAM_BINARY(ge)},
    {"maximum", {[](const at::Tensor& a, const at::Tensor& b) { return at::maximum(a, b); },
                 [](const at::Tensor& a, const at::Scalar& b) { return at::clamp_min(a, b); }}},
    {"minimum", {[](const at::Tensor& a, const at::Tensor& b) { return at::minimum(a, b); },
                 [](const at::Tensor& a, const at::Scalar& b) { return at::clamp_max(a, b); }}},
    {"logicalAnd", {[](const at::Tensor& a, const at::Tensor& b) { return at::logical_and(a, b); },
                    nullptr}},
    {"logicalOr", {[](const at::Tensor& a, const at::Tensor& b) { return at::logical_or(a, b); },
                   nullptr}},
};
#undef PCAM_BINARY

template <class Table>
static const typename Table::mapped_type& Lookup(const Table& table, const Napi::Value& name) {
  auto it = table.find(String(name));
  if (it == table.end()) throw Napi::TypeError::New(name.Env(), "unknown op " + String(name));
  return it->second;
}

// unary(name, x)
PCAM_FN(UnaryOp) { return Wrap(info.Env(), Lookup(kUnary, info[0])(Unwrap(info[1]))); }

// binary(name, a, b): b is a tensor handle or a number.
PCAM_FN(BinaryOp) {
  const Binary& op = Lookup(kBinary, info[0]);
  const at::Tensor& a = Unwrap(info[1]);
  if (info[2].IsExternal()) return Wrap(info.Env(), op.tensor(a, Unwrap(info[2])));
  if (!op.scalar) throw Napi::TypeError::New(info.Env(), String(info[0]) + " needs two tensors");
  return Wrap(info.Env(), op.scalar(a, Scalar(info[2])));
}

// inplace(name, a, b, alpha): a.add_(b, alpha) and friends, for optimizers and initialisers.
PCAM_FN(Inplace) {
  std::string name = String(info[0]);
  at::Tensor& a = Unwrap(info[1]);
  bool tensor = info[2].IsExternal();
  if (name == "add" && tensor) a.add_(Unwrap(info[2]), Scalar(info[3]));
  else if (name == "add") a.add_(Scalar(info[2]));
  else if (name == "mul" && tensor) a.mul_(Unwrap(info[2]));
  else if (name == "mul") a.mul_(Scalar(info[2]));
  else if (name == "div" && tensor) a.div_(Unwrap(info[2]));
  else if (name == "div") a.div_(Scalar(info[2]));
  else throw Napi::TypeError::New(info.Env(), "unknown in-place op " + name);
  return info.Env().Undefined();
}

// clamp(x, min | null, max | null)
PCAM_FN(Clamp) {
  auto bound = [](const Napi::Value& v) -> c10::optional<at::Scalar> {
    if (v.IsNull() || v.IsUndefined()) return c10::nullopt;
    return Scalar(v);
  };
  return Wrap(info.Env(), at::clamp(Unwrap(info[0]), bound(info[1]), bound(info[2])));
}

PCAM_FN(Where) {
  return Wrap(info.Env(), at::where(Unwrap(info[0]), Unwrap(info[1]), Unwrap(info[2])));
}

// reduce(name, x, dims | null, keepdim): null reduces over every dimension (logsumexp needs
// explicit dims).
PCAM_FN(Reduce) {
  std::string name = String(info[0]);
  const at::Tensor& x = Unwrap(info[1]);
  bool all = info[2].IsNull();
  std::vector<int64_t> dims = all ? std::vector<int64_t>{} : IntList(info[2]);
  bool keep = Bool(info[3]);
  if (name == "sum") return Wrap(info.Env(), all ? at::sum(x) : at::sum(x, dims, keep));
  if (name == "mean") return Wrap(info.Env(), all ? at::mean(x) : at::mean(x, dims, keep));
  if (name == "amax") return Wrap(info.Env(), at::amax(x, dims, keep));
  if (name == "amin") return Wrap(info.Env(), at::amin(x, dims, keep));
  if (name == "logsumexp") return Wrap(info.Env(), at::logsumexp(x, dims, keep));
  throw Napi::TypeError::New(info.Env(), "unknown reduction " + name);
}

// variance(x, dims | null, correction, keepdim, sqrt): var or std with Bessel's correction.
PCAM_FN(Variance) {
  const at::Tensor& x = Unwrap(info[0]);
  c10::optional<at::IntArrayRef> dims;
  std::vector<int64_t> list;
  if (!info[1].IsNull()) {
    list = IntList(info[1]);
    dims = list;
  }
  // libtorch 2.1 made the correction a Scalar (fractional corrections).
#if PCAM_TORCH_AT_LEAST(2, 1)
  c10::optional<at::Scalar> correction = at::Scalar(Int(info[2]));
#else
  c10::optional<int64_t> correction = Int(info[2]);
#endif
  bool keep = Bool(info[3]);
  return Wrap(info.Env(), Bool(info[4]) ? at::std(x, dims, correction, keep) : at::var(x, dims, correction, keep));
}

// argReduce(name, x, dim | null, keepdim)
PCAM_FN(ArgReduce) {
  std::string name = String(info[0]);
  c10::optional<int64_t> dim;
  if (!info[2].IsNull()) dim = Int(info[2]);
  bool keep = Bool(info[3]);
  const at::Tensor& x = Unwrap(info[1]);
  return Wrap(info.Env(), name == "argmax" ? at::argmax(x, dim, keep) : at::argmin(x, dim, keep));
}

// topk(x, k, dim, largest, sorted) -> [values, indices]
PCAM_FN(Topk) {
  auto [values, indices] = at::topk(Unwrap(info[0]), Int(info[1]), Int(info[2]), Bool(info[3]), Bool(info[4]));
  return WrapList(info.Env(), {values, indices});
}
// sort(x, dim, descending) -> [values, indices]
PCAM_FN(Sort) {
  auto [values, indices] = at::sort(Unwrap(info[0]), Int(info[1]), Bool(info[2]));
  return WrapList(info.Env(), {values, indices});
}

PCAM_FN(Reshape) { return Wrap(info.Env(), at::reshape(Unwrap(info[0]), IntList(info[1]))); }
PCAM_FN(Permute) { return Wrap(info.Env(), Unwrap(info[0]).permute(IntList(info[1]))); }
PCAM_FN(Transpose) { return Wrap(info.Env(), Unwrap(info[0]).transpose(Int(info[1]), Int(info[2]))); }
PCAM_FN(Expand) { return Wrap(info.Env(), Unwrap(info[0]).expand(IntList(info[1]))); }
PCAM_FN(Repeat) { return Wrap(info.Env(), Unwrap(info[0]).repeat(IntList(info[1]))); }
PCAM_FN(Squeeze) {
  const at::Tensor& x = Unwrap(info[0]);
  return Wrap(info.Env(), info[1].IsNull() ? x.squeeze() : x.squeeze(Int(info[1])));
}
PCAM_FN(Unsqueeze) { return Wrap(info.Env(), Unwrap(info[0]).unsqueeze(Int(info[1]))); }
PCAM_FN(Flatten) { return Wrap(info.Env(), Unwrap(info[0]).flatten(Int(info[1]), Int(info[2]))); }
// slice(x, dim, start, end, step): a view, like x[start:end:step] along dim.
PCAM_FN(Slice) {
  return Wrap(info.Env(), Unwrap(info[0]).slice(Int(info[1]), Int(info[2]), Int(info[3]), Int(info[4])));
}
PCAM_FN(Select) { return Wrap(info.Env(), Unwrap(info[0]).select(Int(info[1]), Int(info[2]))); }
PCAM_FN(IndexSelect) {
  return Wrap(info.Env(), at::index_select(Unwrap(info[0]), Int(info[1]), Unwrap(info[2])));
}
PCAM_FN(Gather) { return Wrap(info.Env(), at::gather(Unwrap(info[0]), Int(info[1]), Unwrap(info[2]))); }
PCAM_FN(Cat) { return Wrap(info.Env(), at::cat(TensorList(info[0]), Int(info[1]))); }
PCAM_FN(Stack) { return Wrap(info.Env(), at::stack(TensorList(info[0]), Int(info[1]))); }
PCAM_FN(Flip) { return Wrap(info.Env(), at::flip(Unwrap(info[0]), IntList(info[1]))); }
PCAM_FN(Rot90) { return Wrap(info.Env(), at::rot90(Unwrap(info[0]), Int(info[1]), IntList(info[2]))); }
PCAM_FN(Matmul) { return Wrap(info.Env(), at::matmul(Unwrap(info[0]), Unwrap(info[1]))); }

void RegisterOps(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "unary", UnaryOp);
  Export(env, exports, "binary", BinaryOp);
  Export(env, exports, "inplace", Inplace);
  Export(env, exports, "clamp", Clamp);
  Export(env, exports, "where", Where);
  Export(env, exports, "reduce", Reduce);
  Export(env, exports, "variance", Variance);
  Export(env, exports, "argReduce", ArgReduce);
  Export(env, exports, "topk", Topk);
  Export(env, exports, "sort", Sort);
  Export(env, exports, "reshape", Reshape);
  Export(env, exports, "permute", Permute);
  Export(env, exports, "transpose", Transpose);
  Export(env, exports, "expand", Expand);
  Export(env, exports, "repeat", Repeat);
  Export(env, exports, "squeeze", Squeeze);
  Export(env, exports, "unsqueeze", Unsqueeze);
  Export(env, exports, "flatten", Flatten);
  Export(env, exports, "slice", Slice);
  Export(env, exports, "select", Select);
  Export(env, exports, "indexSelect", IndexSelect);
  Export(env, exports, "gather", Gather);
  Export(env, exports, "cat", Cat);
  Export(env, exports, "stack", Stack);
  Export(env, exports, "flip", Flip);
  Export(env, exports, "rot90", Rot90);
  Export(env, exports, "matmul", Matmul);
}

}  // namespace pcam
