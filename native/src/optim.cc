// One optimizer step over a list of parameters, written as PyTorch 1.13's torch.optim functional
// updates so results match it. The state tensors belong to the TypeScript optimizer; hyper-
// parameters arrive per call, so schedules can change them every step.
#include <cmath>

#include "common.h"

namespace pcam {

// sgdStep(params[], momentumBuffers[], firstStep, lr, momentum, dampening, weightDecay, nesterov)
// momentumBuffers is empty when momentum is 0; on the first step the buffer takes the gradient.
PCAM_FN(SgdStep) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> params = TensorList(info[0]);
  std::vector<at::Tensor> buffers = TensorList(info[1]);
  bool first = Bool(info[2]);
  double lr = Double(info[3]), momentum = Double(info[4]), dampening = Double(info[5]);
  double weightDecay = Double(info[6]);
  bool nesterov = Bool(info[7]);
  if (momentum != 0 && buffers.size() != params.size())
    throw std::invalid_argument("sgdStep: " + std::to_string(params.size()) + " parameters but " +
                                std::to_string(buffers.size()) + " momentum buffers");
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& p = params[i];
    at::Tensor d = p.grad();
    if (!d.defined()) continue;
    if (weightDecay != 0) d = d.add(p, weightDecay);
    if (momentum != 0) {
      at::Tensor& buf = buffers.at(i);
      if (first) buf.copy_(d);
      else buf.mul_(momentum).add_(d, 1 - dampening);
      d = nesterov ? d.add(buf, momentum) : buf;
    }
    p.add_(d, -lr);
  }
  return info.Env().Undefined();
}

// adamStep(params[], expAvg[], expAvgSq[], steps[], lr, beta1, beta2, eps, weightDecay, decoupled)
// steps[i] is the parameter's step count after this step (1 on the first). decoupled selects
// AdamW's weight decay (shrink the weights) over Adam's L2 term (added to the gradient).
PCAM_FN(AdamStep) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> params = TensorList(info[0]);
  std::vector<at::Tensor> expAvg = TensorList(info[1]);
  std::vector<at::Tensor> expAvgSq = TensorList(info[2]);
  std::vector<int64_t> steps = IntList(info[3]);
  double lr = Double(info[4]), beta1 = Double(info[5]), beta2 = Double(info[6]), eps = Double(info[7]);
  double weightDecay = Double(info[8]);
  bool decoupled = Bool(info[9]);
  // The state arrays come from JavaScript: one entry per parameter, or no step at all.
  if (expAvg.size() != params.size() || expAvgSq.size() != params.size() || steps.size() != params.size())
    throw std::invalid_argument("adamStep: " + std::to_string(params.size()) + " parameters but " +
                                std::to_string(expAvg.size()) + ", " + std::to_string(expAvgSq.size()) +
                                " and " + std::to_string(steps.size()) + " state entries");
  for (size_t i = 0; i < params.size(); i++) {
    at::Tensor& p = params[i];
    at::Tensor g = p.grad();
    if (!g.defined()) continue;
    if (weightDecay != 0) {
      if (decoupled) p.mul_(1 - lr * weightDecay);
      else g = g.add(p, weightDecay);
    }
    expAvg[i].mul_(beta1).add_(g, 1 - beta1);
    expAvgSq[i].mul_(beta2).addcmul_(g, g, 1 - beta2);
    double correction1 = 1 - std::pow(beta1, steps[i]);
    double correction2 = 1 - std::pow(beta2, steps[i]);
    at::Tensor denom = (expAvgSq[i].sqrt() / std::sqrt(correction2)).add_(eps);
    p.addcdiv_(expAvg[i], denom, -lr / correction1);
  }
  return info.Env().Undefined();
}

// clipGradNorm(params[], maxNorm): scales the gradients so their joint 2-norm is at most maxNorm,
// as torch.nn.utils.clip_grad_norm_; returns the norm before clipping.
PCAM_FN(ClipGradNorm) {
  at::NoGradGuard noGrad;
  std::vector<at::Tensor> grads;
  for (const at::Tensor& p : TensorList(info[0]))
    if (p.grad().defined()) grads.push_back(p.grad());
  double maxNorm = Double(info[1]);
  if (grads.empty()) return Napi::Number::New(info.Env(), 0);
  std::vector<at::Tensor> norms;
  for (const at::Tensor& g : grads) norms.push_back(g.norm(2));
  at::Tensor total = at::stack(norms).norm(2);
  at::Tensor coef = (maxNorm / (total + 1e-6)).clamp_max(1.0);
  for (at::Tensor& g : grads) g.mul_(coef.to(g.scalar_type()));
  return Napi::Number::New(info.Env(), total.item<double>());
}

void RegisterOptim(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "sgdStep", SgdStep);
  Export(env, exports, "adamStep", AdamStep);
  Export(env, exports, "clipGradNorm", ClipGradNorm);
}

}  // namespace pcam
