#include "delivery/delivery_worker.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

namespace referrald::delivery {

DeliveryWorker::DeliveryWorker(domain::WebhookDispatcher& dispatcher, DeliveryWorkerOptions options)
    : dispatcher_(dispatcher), options_(options) {}

DeliveryWorker::~DeliveryWorker() { Stop(); }

void DeliveryWorker::Start() {
  std::lock_guard lock(mu_);
  if (!threads_.empty() || stopping_) return;
  for (int i = 0; i < std::max(options_.threads, 1); ++i) {
    threads_.emplace_back([this, i] { Loop(i); });
  }
}

void DeliveryWorker::Wake() {
  {
    std::lock_guard lock(mu_);
    ++generation_;
  }
  cv_.notify_all();
}

void DeliveryWorker::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& thread : threads) thread.join();
}

void DeliveryWorker::Loop(int index) {
  std::uint64_t seen = 0;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      seen = generation_;
    }
    try {
      if (index == 0) {
        auto created = dispatcher_.FanOut();
        if (created && *created > 0) Wake();
      }
      while (dispatcher_.DeliverOne()) {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
    } catch (const std::exception& e) {
      spdlog::error("webhook delivery: unexpected exception: {}", e.what());
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.poll_interval, [&] { return stopping_ || generation_ != seen; });
  }
}

}  // namespace referrald::delivery
