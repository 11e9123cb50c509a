#pragma once
// Background threads that run the webhook dispatcher (domain/webhook_dispatcher.hpp) in `serve`,
// apart from the HTTP workers so that a slow receiver never holds an API request. Thread 0 also
// copies new events into deliveries; every thread claims and sends due deliveries until none is
// left, then waits for the poll interval (or a Wake). Deliveries written by other instances are
// picked up by the polling.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "domain/webhook_dispatcher.hpp"

namespace referrald::delivery {

struct DeliveryWorkerOptions {
  int threads = 4;                                // attempts in flight at once, at most
  std::chrono::milliseconds poll_interval{1000};  // WEBHOOK_POLL_INTERVAL_MS
};

class DeliveryWorker {
 public:
  // `dispatcher` must outlive the worker.
  DeliveryWorker(domain::WebhookDispatcher& dispatcher, DeliveryWorkerOptions options);
  ~DeliveryWorker();
  DeliveryWorker(const DeliveryWorker&) = delete;
  DeliveryWorker& operator=(const DeliveryWorker&) = delete;

  void Start();
  // Makes every thread look for work now (events just written, a clock a test moved).
  void Wake();
  // Lets attempts in flight end (abort the sender first for a prompt stop), joins. Idempotent.
  void Stop();

 private:
  void Loop(int index);

  domain::WebhookDispatcher& dispatcher_;
  const DeliveryWorkerOptions options_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::uint64_t generation_ = 0;  // bumped by Wake: waiting threads look again
  std::vector<std::thread> threads_;
};

}  // namespace referrald::delivery
