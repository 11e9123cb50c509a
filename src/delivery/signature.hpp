#pragma once
// Standard Webhooks signing: HMAC-SHA256 with the secret's key over "{id}.{timestamp}.{body}",
// answered as "v1,<standard base64 of the MAC>" (the webhook-signature header's value).

#include <cstdint>
#include <string>
#include <string_view>

namespace referrald::delivery {

// `key` is the raw HMAC key (domain::WebhookSecretKey of the secret). Never logged.
std::string SignatureV1(std::string_view key, std::string_view id, std::int64_t timestamp,
                        std::string_view body);

}  // namespace referrald::delivery
