#include "delivery/curl_sender.hpp"

#include <curl/curl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <memory>
#include <string>

#include "codec/json_codec.hpp"
#include "delivery/addresses.hpp"
#include "delivery/signature.hpp"
#include "delivery/target_resolver.hpp"

namespace referrald::delivery {
namespace {

struct EasyFree {
  void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct SlistFree {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

// What the callbacks of one transfer share.
struct Transfer {
  bool allow_private_networks = false;
  const std::atomic<bool>* aborted = nullptr;
  bool refused_address = false;
  std::size_t body_bytes = 0;
  bool body_limit_reached = false;
};

// Opens the socket for an address libcurl is about to connect to — unless the SSRF rule refuses
// the address, which makes this attempt fail as a connection failure.
curl_socket_t OpenSocket(void* clientp, curlsocktype /*purpose*/, curl_sockaddr* address) {
  auto* transfer = static_cast<Transfer*>(clientp);
  const auto ip = ToIpAddress(&address->addr);
  if (!ip || (!transfer->allow_private_networks && domain::IsNonPublicAddress(*ip))) {
    transfer->refused_address = true;
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

// Discards the answer's body, up to the limit (then the transfer stops: the status is known).
std::size_t DiscardBody(char* /*data*/, std::size_t size, std::size_t count, void* userp) {
  auto* transfer = static_cast<Transfer*>(userp);
  transfer->body_bytes += size * count;
  if (transfer->body_bytes > domain::kMaxWebhookResponseBytes) {
    transfer->body_limit_reached = true;
    return 0;
  }
  return size * count;
}

int Progress(void* clientp, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/, curl_off_t /*ultotal*/,
             curl_off_t /*ulnow*/) {
  const auto* transfer = static_cast<const Transfer*>(clientp);
  return transfer->aborted->load() ? 1 : 0;
}

}  // namespace

CurlWebhookSender::CurlWebhookSender(CurlSenderOptions options) : options_(options) {
  InitCurlOnce();
}

domain::SendOutcome CurlWebhookSender::Send(const domain::ClaimedDelivery& delivery,
                                            TimePoint now) {
  domain::SendOutcome outcome;
  if (aborted_.load()) {
    outcome.aborted = true;
    return outcome;
  }
  const auto key = domain::WebhookSecretKey(delivery.secret);
  if (!key) {
    spdlog::error("webhook {}: its stored secret is malformed; attempt counted as failed",
                  delivery.endpoint_id);
    return outcome;
  }
  const std::string body = codec::Dump(codec::ToJson(delivery.event));
  const std::int64_t timestamp =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();

  std::unique_ptr<curl_slist, SlistFree> headers;
  const auto add_header = [&headers](const std::string& line) {
    curl_slist* appended = curl_slist_append(headers.get(), line.c_str());
    if (appended != nullptr) {
      (void)headers.release();
      headers.reset(appended);
    }
  };
  add_header("Content-Type: application/json");
  add_header("User-Agent: referrald-webhooks");
  add_header("Expect:");  // no 100-continue round trip
  add_header("webhook-id: " + delivery.event.id);
  add_header("webhook-timestamp: " + std::to_string(timestamp));
  add_header("webhook-signature: " + SignatureV1(*key, delivery.event.id, timestamp, body));

  const std::unique_ptr<CURL, EasyFree> easy(curl_easy_init());
  if (!easy) return outcome;
  Transfer transfer;
  transfer.allow_private_networks = options_.allow_private_networks;
  transfer.aborted = &aborted_;
  CURL* h = easy.get();
  curl_easy_setopt(h, CURLOPT_URL, delivery.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(h, CURLOPT_PROXY, "");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(h, CURLOPT_POST, 1L);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, DiscardBody);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, Progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &transfer);

  const CURLcode code = curl_easy_perform(h);
  long status = 0;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if (code == CURLE_ABORTED_BY_CALLBACK && aborted_.load()) {
    outcome.aborted = true;
    return outcome;
  }
  if (status > 0) outcome.response_status = static_cast<int>(status);
  const bool complete =
      code == CURLE_OK || (code == CURLE_WRITE_ERROR && transfer.body_limit_reached);
  outcome.delivered = complete && status >= 200 && status <= 299;
  if (!complete) {
    // curl's message names the failure (timeout, refused, ...), never the secret or signature.
    spdlog::info("webhook {} event {}: {}", delivery.endpoint_id, delivery.event.id,
                 transfer.refused_address
                     ? std::string("refused: the host resolved to a non-public address")
                     : std::string(curl_easy_strerror(code)));
  }
  return outcome;
}

}  // namespace referrald::delivery
