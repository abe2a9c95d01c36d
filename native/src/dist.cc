// PyTorch's c10d process groups: a TCP store for rendezvous, and Gloo (CPU) or NCCL (CUDA)
// collectives over it. Mechanism only: which tensors to reduce, how to bucket them, on which
// device, and when is decided in TypeScript. Every call waits for the collective on this rank
// (training runs in a worker thread); NCCL's wait orders the current CUDA stream after it.
#include "common.h"

#ifdef PCAM_WITH_GLOO

#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef PCAM_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace pcam {

namespace {

// What Gloo's and NCCL's groups share: libtorch 2.0 moved the collectives from ProcessGroup to
// Backend, which the concrete groups now derive from.
#if PCAM_TORCH_AT_LEAST(2, 0)
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

// Live groups by id, for autograd: a graph that outlives its group (destroyed, or its handle
// collected) finds it gone instead of following a dangling pointer.
struct Registry {
  std::mutex mutex;
  std::unordered_map<int64_t, c10::intrusive_ptr<Collectives>> groups;
  int64_t next = 1;
};
Registry& Groups() {
  static Registry* registry = new Registry();  // never destroyed: finalizers may run at exit
  return *registry;
}
void Forget(int64_t id) {
  c10::intrusive_ptr<Collectives> gone;  // released after the lock, should it be the last one
  std::lock_guard<std::mutex> lock(Groups().mutex);
  auto found = Groups().groups.find(id);
  if (found == Groups().groups.end()) return;
  gone = std::move(found->second);
  Groups().groups.erase(found);
}

struct GroupBox {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> group;
  int64_t id = 0;
  ~GroupBox() { Forget(id); }
};

}  // namespace

template <>
struct HandleKind<GroupBox> {
  static constexpr napi_type_tag tag{0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL};
  static constexpr const char* name = "process group handle";
};

namespace {

GroupBox& Group(const Napi::Value& value) {
  GroupBox* box = HandleData<GroupBox>(value);
  if (!box->group) throw std::runtime_error("the process group was destroyed");
  return *box;
}

void Wait(const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait()) throw std::runtime_error("the collective did not complete");
}

c10d::ReduceOp Op(const std::string& name) {
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "min") return c10d::ReduceOp::MIN;
  throw std::invalid_argument("unknown reduce op " + name + " (sum, max, min)");
}

// A sum over the ranks that autograd sees through: its backward is the same sum of the gradients
// (summing is its own adjoint). Synchronised batch norm is built on it in TypeScript.
struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, int64_t id) {
    ctx->saved_data["group"] = id;
    std::vector<at::Tensor> tensors{input.contiguous().clone()};
    Wait(Live(id)->allreduce(tensors));
    return tensors[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    std::vector<at::Tensor> tensors{grads[0].contiguous().clone()};
    Wait(Live(ctx->saved_data["group"].toInt())->allreduce(tensors));
    return {tensors[0], at::Tensor()};
  }
  // A reference to the group, held for the collective, or an error once it is gone.
  static c10::intrusive_ptr<Collectives> Live(int64_t id) {
    std::lock_guard<std::mutex> lock(Groups().mutex);
    auto found = Groups().groups.find(id);
    if (found == Groups().groups.end()) throw std::runtime_error("the process group was destroyed");
    return found->second;
  }
};

}  // namespace

// distAllReduceSumAutograd(group, tensor): a new tensor, the sum over the ranks, differentiable.
PCAM_FN(DistAllReduceSumAutograd) {
  GroupBox& box = Group(info[0]);
  return Wrap(info.Env(), AllReduceSum::apply(Unwrap(info[1]), box.id));
}

// distInit(masterAddr, masterPort, rank, worldSize, timeoutMs, interfaceHost, backend): rank 0
// hosts the TCP store; every rank connects, then Gloo pairs (or NCCL's communicators, made on
// the first collective of each GPU) are set up through it.
PCAM_FN(DistInit) {
  std::string master = String(info[0]);
  auto port = static_cast<uint16_t>(Int(info[1]));
  int rank = static_cast<int>(Int(info[2]));
  int world = static_cast<int>(Int(info[3]));
  auto timeout = std::chrono::milliseconds(Int(info[4]));
  std::string host = String(info[5]);
  std::string backend = String(info[6]);
#ifdef PCAM_WITH_NCCL
  if (backend != "gloo" && backend != "nccl")
#else
  if (backend != "gloo")
#endif
    throw std::invalid_argument("backend " + backend + " is not built into this addon (distBackends)");
  c10d::TCPStoreOptions options;
  options.port = port;
  options.isServer = rank == 0;
  options.numWorkers = world;
  options.waitWorkers = true;
  options.timeout = timeout;
  auto box = new GroupBox();
  try {
    box->store = c10::make_intrusive<c10d::TCPStore>(master, options);
#ifdef PCAM_WITH_NCCL
    if (backend == "nccl") {
      auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
      ncclOptions->timeout = timeout;
      box->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(box->store, rank, world, ncclOptions);
    }
#endif
    if (!box->group) {
      auto glooOptions = c10d::ProcessGroupGloo::Options::create(timeout);
      glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(host));
      box->group = c10::make_intrusive<c10d::ProcessGroupGloo>(box->store, rank, world, glooOptions);
    }
    std::lock_guard<std::mutex> lock(Groups().mutex);
    box->id = Groups().next++;
    Groups().groups[box->id] = box->group;
  } catch (...) {
    delete box;
    throw;
  }
  return NewHandle(info.Env(), box, [](Napi::Env, GroupBox* b) { delete b; });
}

// distAllReduce(group, tensors, op): in place, every tensor reduced over the ranks. One
// collective per tensor: NCCL in libtorch 2.x takes one tensor a call, and Gloo would otherwise
// also reduce across the list.
PCAM_FN(DistAllReduce) {
  GroupBox& box = Group(info[0]);
  c10d::AllreduceOptions options;
  options.reduceOp = Op(String(info[2]));
  for (const at::Tensor& tensor : TensorList(info[1])) {
    std::vector<at::Tensor> one{tensor};
    Wait(box.group->allreduce(one, options));
  }
  return info.Env().Undefined();
}

// distBroadcast(group, tensors, root): in place, every rank receives root's values.
PCAM_FN(DistBroadcast) {
  GroupBox& box = Group(info[0]);
  c10d::BroadcastOptions options;
  options.rootRank = static_cast<int64_t>(Int(info[2]));
  for (const at::Tensor& tensor : TensorList(info[1])) {
    std::vector<at::Tensor> one{tensor};
    Wait(box.group->broadcast(one, options));
  }
  return info.Env().Undefined();
}

// distAllGather(group, tensor): one tensor per rank, in rank order (same shape on every rank).
PCAM_FN(DistAllGather) {
  GroupBox& box = Group(info[0]);
  at::Tensor input = Unwrap(info[1]).contiguous();
  std::vector<at::Tensor> inputs{input};
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int r = 0; r < box.group->getSize(); r++) outputs[0].push_back(at::empty_like(input));
  Wait(box.group->allgather(outputs, inputs));
  return WrapList(info.Env(), outputs[0]);
}

PCAM_FN(DistBarrier) {
  Wait(Group(info[0]).group->barrier());
  return info.Env().Undefined();
}

// distDestroy(group): closes the connections now rather than when V8 collects the handle.
PCAM_FN(DistDestroy) {
  GroupBox* box = HandleData<GroupBox>(info[0]);
  Forget(box->id);
  box->group.reset();
  box->store.reset();
  return info.Env().Undefined();
}

void RegisterDist(Napi::Env env, Napi::Object exports) {
#ifdef PCAM_WITH_NCCL
  exports.Set("distBackends", Napi::String::New(env, "gloo,nccl"));
#else
  exports.Set("distBackends", Napi::String::New(env, "gloo"));
#endif
  Export(env, exports, "distInit", DistInit);
  Export(env, exports, "distAllReduce", DistAllReduce);
  Export(env, exports, "distAllReduceSumAutograd", DistAllReduceSumAutograd);
  Export(env, exports, "distBroadcast", DistBroadcast);
  Export(env, exports, "distAllGather", DistAllGather);
  Export(env, exports, "distBarrier", DistBarrier);
  Export(env, exports, "distDestroy", DistDestroy);
}

}  // namespace pcam

#else  // built without Gloo's headers: say so when asked

namespace pcam {
void RegisterDist(Napi::Env env, Napi::Object exports) {
  exports.Set("distBackends", Napi::String::New(env, ""));
}
}  // namespace pcam

#endif
