#pragma once
// A webhook receiver for tests: a real HTTP server on a loopback port that records every request
// (raw body and headers) and answers with the status a test scripts. It can go down and come
// back on the same port, like a receiver being redeployed.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace httplib {
class Server;
}

namespace referrald::testing {

struct ReceivedWebhook {
  std::string path;
  std::string body;                            // exactly the bytes received
  std::map<std::string, std::string> headers;  // names lowercased
  [[nodiscard]] std::string Header(const std::string& lowercase_name) const;
};

class WebhookReceiver {
 public:
  // Answers `status(n)` to the n-th request (0-based); 204 by default. Thread-safe.
  using Script = std::function<int(std::size_t n)>;

  explicit WebhookReceiver(Script script = nullptr);
  ~WebhookReceiver();
  WebhookReceiver(const WebhookReceiver&) = delete;
  WebhookReceiver& operator=(const WebhookReceiver&) = delete;

  // http://127.0.0.1:PORT/hook
  [[nodiscard]] std::string url() const;
  [[nodiscard]] std::uint16_t port() const { return port_; }
  // Stops listening (connections are refused) / listens again on the same port.
  void Down();
  void Up();

  // Every request so far, in arrival order.
  [[nodiscard]] std::vector<ReceivedWebhook> Received() const;
  // Waits until `predicate(Received())` holds or `timeout` passes; returns whether it held.
  bool WaitFor(const std::function<bool(const std::vector<ReceivedWebhook>&)>& predicate,
               std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  // Waits for at least `n` requests.
  bool WaitForCount(std::size_t n,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

 private:
  void Listen(bool any_port);

  Script script_;
  std::uint16_t port_ = 0;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<ReceivedWebhook> received_;
};

// The Standard Webhooks check a receiver makes: HMAC-SHA256 with the key base64-decoded from
// `secret` (after "whsec_") over "{webhook-id}.{webhook-timestamp}.{raw body}", compared with
// every "v1,<base64>" in webhook-signature. Computed here with OpenSSL, independently of the
// service's code.
bool VerifyWebhookSignature(const ReceivedWebhook& request, const std::string& secret);

}  // namespace referrald::testing
