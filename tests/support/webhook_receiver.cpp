#include "support/webhook_receiver.hpp"

#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <sstream>

namespace referrald::testing {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// OpenSSL's base64 (EVP_EncodeBlock / EVP_DecodeBlock), so that the check shares no code with
// the service.
std::string Base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string Unbase64(const std::string& text) {
  std::string out(3 * text.size() / 4 + 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return {};
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding's zero bytes.
  if (text.size() >= 1 && text[text.size() - 1] == '=') --size;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --size;
  out.resize(size);
  return out;
}

}  // namespace

std::string ReceivedWebhook::Header(const std::string& lowercase_name) const {
  const auto it = headers.find(lowercase_name);
  return it == headers.end() ? "" : it->second;
}

WebhookReceiver::WebhookReceiver(Script script) : script_(std::move(script)) { Listen(true); }

WebhookReceiver::~WebhookReceiver() { Down(); }

std::string WebhookReceiver::url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/hook";
}

void WebhookReceiver::Listen(bool any_port) {
  server_ = std::make_unique<httplib::Server>();
  server_->Post(".*", [this](const httplib::Request& request, httplib::Response& response) {
    ReceivedWebhook received;
    received.path = request.path;
    received.body = request.body;
    for (const auto& [name, value] : request.headers) received.headers[Lower(name)] = value;
    std::size_t n = 0;
    {
      std::lock_guard lock(mu_);
      n = received_.size();
      received_.push_back(std::move(received));
    }
    response.status = script_ ? script_(n) : 204;
  });
  if (any_port) {
    const int port = server_->bind_to_any_port("127.0.0.1");
    ASSERT_GT(port, 0);
    port_ = static_cast<std::uint16_t>(port);
  } else {
    // The port was ours a moment ago; another process could take it, which fails the test.
    bool bound = false;
    for (int i = 0; i < 50 && !bound; ++i) {
      bound = server_->bind_to_port("127.0.0.1", port_);
      if (!bound) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(bound) << "port " << port_ << " taken";
  }
  thread_ = std::thread([server = server_.get()] { server->listen_after_bind(); });
  // stop() is a no-op until the loop runs: wait for it, so that Down() always ends it.
  while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

void WebhookReceiver::Down() {
  if (!server_) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

void WebhookReceiver::Up() {
  if (server_) return;
  Listen(false);
}

std::vector<ReceivedWebhook> WebhookReceiver::Received() const {
  std::lock_guard lock(mu_);
  return received_;
}

bool WebhookReceiver::WaitFor(
    const std::function<bool(const std::vector<ReceivedWebhook>&)>& predicate,
    std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (predicate(Received())) return true;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool WebhookReceiver::WaitForCount(std::size_t n, std::chrono::milliseconds timeout) const {
  return WaitFor([n](const auto& received) { return received.size() >= n; }, timeout);
}

bool VerifyWebhookSignature(const ReceivedWebhook& request, const std::string& secret) {
  const std::string prefix = "whsec_";
  if (secret.rfind(prefix, 0) != 0) return false;
  const std::string key = Unbase64(secret.substr(prefix.size()));
  const std::string id = request.Header("webhook-id");
  const std::string timestamp = request.Header("webhook-timestamp");
  if (key.empty() || id.empty() || timestamp.empty()) return false;
  const std::string content = id + "." + timestamp + "." + request.body;
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac.data(), &length);
  const std::string expected = Base64(mac.data(), length);
  // The header may carry several space-separated signatures ("v1,abc v1,def").
  std::istringstream signatures(request.Header("webhook-signature"));
  std::string signature;
  while (signatures >> signature) {
    if (signature == "v1," + expected) return true;
  }
  return false;
}

}  // namespace referrald::testing
