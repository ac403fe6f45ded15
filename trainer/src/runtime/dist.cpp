// Data-parallel collectives over libtorch's c10d, which tch does not expose: a TCPStore
// rendezvous, then ProcessGroupNCCL for CUDA tensors (where spe was built with NCCL's and
// CUDA's headers) or ProcessGroupGloo, which takes CPU and CUDA tensors. Every call returns
// 0 on success, or -1 with the reason in `err`, so no C++ exception crosses into Rust.
#include "shim.hpp"

#ifdef SPE_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef SPE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <string>
#include <vector>

struct SpeGroup {
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
};

static int wait(SpeGroup* group, c10::intrusive_ptr<c10d::Work> work, char* err, size_t len) {
  return spe_guarded(err, len, [&] {
    if (!work->wait(group->timeout)) {
      throw std::runtime_error("the collective did not complete in time");
    }
  });
}

extern "C" {

// Whether ProcessGroupNCCL is built in.
int spe_dist_has_nccl() {
#ifdef SPE_WITH_NCCL
  return 1;
#else
  return 0;
#endif
}

// Joins the group of `world` processes whose rank 0 serves the store at `addr`:`port`, over
// NCCL where `nccl` is set (spe_dist_has_nccl), else over Gloo. Returns null with the reason
// in `err` on failure.
SpeGroup* spe_dist_init(const char* addr, int port, int rank, int world, int nccl, long timeout_ms, char* err,
                        size_t len) {
  SpeGroup* group = nullptr;
  int rc = spe_guarded(err, len, [&] {
#ifdef SPE_WITH_GLOO
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(port);
    options.isServer = rank == 0;
    options.numWorkers = world;
    options.waitWorkers = true;
    options.timeout = timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(addr), options);
    auto store = c10::make_intrusive<c10d::PrefixStore>("spe", tcp);
#ifdef SPE_WITH_NCCL
    if (nccl) {
      auto nccl_options = c10d::ProcessGroupNCCL::Options::create();
      nccl_options->timeout = timeout;
      auto backend = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, nccl_options);
      group = new SpeGroup{backend, timeout};
      return;
    }
#endif
    auto gloo_options = c10d::ProcessGroupGloo::Options::create();
    gloo_options->timeout = timeout;
    gloo_options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    auto backend = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, gloo_options);
    group = new SpeGroup{backend, timeout};
#else
    throw std::runtime_error(
        "this spe-trainer was built without Gloo's headers (SPE_GLOO_INCLUDE), so it trains on one process only");
#endif
  });
  return rc == 0 ? group : nullptr;
}

void spe_dist_free(SpeGroup* group) { delete group; }

// Sums `tensor` over the group, in place.
int spe_dist_all_reduce_sum(SpeGroup* group, at::Tensor* tensor, char* err, size_t len) {
  c10::intrusive_ptr<c10d::Work> work;
  int rc = spe_guarded(err, len, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    work = group->backend->allreduce(tensors, c10d::AllreduceOptions());
  });
  return rc == 0 ? wait(group, work, err, len) : rc;
}

// Copies rank `root`'s `tensor` into every rank's.
int spe_dist_broadcast(SpeGroup* group, at::Tensor* tensor, int root, char* err, size_t len) {
  c10::intrusive_ptr<c10d::Work> work;
  int rc = spe_guarded(err, len, [&] {
    std::vector<at::Tensor> tensors{*tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    work = group->backend->broadcast(tensors, options);
  });
  return rc == 0 ? wait(group, work, err, len) : rc;
}

// Fills `outputs[r]` with rank r's `input`, for every rank r (all of `input`'s shape).
int spe_dist_all_gather(SpeGroup* group, at::Tensor** outputs, int n, at::Tensor* input, char* err, size_t len) {
  c10::intrusive_ptr<c10d::Work> work;
  int rc = spe_guarded(err, len, [&] {
    std::vector<std::vector<at::Tensor>> out(1);
    for (int i = 0; i < n; i++) out[0].push_back(*outputs[i]);
    std::vector<at::Tensor> in{*input};
    work = group->backend->allgather(out, in, c10d::AllgatherOptions());
  });
  return rc == 0 ? wait(group, work, err, len) : rc;
}

// Waits until every rank has called it.
int spe_dist_barrier(SpeGroup* group, char* err, size_t len) {
  c10::intrusive_ptr<c10d::Work> work;
  int rc = spe_guarded(err, len, [&] { work = group->backend->barrier(c10d::BarrierOptions()); });
  return rc == 0 ? wait(group, work, err, len) : rc;
}
}
