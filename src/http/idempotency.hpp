#pragma once
// Idempotency-Key in the HTTP layer (contract section 10; the rules are domain/idempotency.hpp).
// The pipeline looks the key of a keyed POST under /api/ up before its handler runs and answers a
// repeat from what was stored. A write handler renders its success inside the use case's
// transaction through a WriteAnswer, so that the response is stored with the change.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "domain/idempotency.hpp"
#include "http/request.hpp"
#include "http/server.hpp"

namespace referrald::http {

// The request header and the header a replayed answer carries.
inline constexpr std::string_view kIdempotencyKeyHeader = "Idempotency-Key";
inline constexpr std::string_view kIdempotentReplayedHeader = "Idempotent-Replayed";

// Lowercase hex of the SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

// `response` as it is stored: status, the headers its handler set (the pipeline adds the others
// again on a replay) and the body, byte for byte.
domain::StoredResponse ToStored(const Response& response);
// The stored response back, with Idempotent-Replayed: true.
Response FromStored(const domain::StoredResponse& stored);

// Whether a keyed request's `response` is remembered for its repeats: every answer but 5xx, 429,
// 409 IDEMPOTENCY_IN_PROGRESS (after those nothing is stored and a retry runs again) and 403
// USER_ERASED (nothing is kept for an erased user).
bool IsRemembered(const Response& response);

// Renders the success of a write use case inside the use case's transaction and, when the request
// holds an Idempotency-Key, stores it there, with the change:
//   WriteAnswer<domain::Referral> answer(request, deps, TrackedResponse);
//   auto referral = deps.referrals.Track(actor, code, answer.OnCommit());
//   if (!referral) return ErrorResponse(referral.error(), request);
//   return answer.Success(*referral);
// Must outlive the use case call (its hook refers to it).
template <typename T>
class WriteAnswer {
 public:
  using Render = std::function<Response(const T&)>;

  WriteAnswer(const Request& request, const Dependencies& deps, Render render)
      : request_(request), deps_(deps), render_(std::move(render)) {}
  WriteAnswer(const WriteAnswer&) = delete;
  WriteAnswer& operator=(const WriteAnswer&) = delete;
  WriteAnswer(WriteAnswer&&) = delete;
  WriteAnswer& operator=(WriteAnswer&&) = delete;
  ~WriteAnswer() = default;

  // The use case's hook: empty without a key, so that an unkeyed request pays nothing.
  domain::OnCommit<T> OnCommit() {
    if (!request_.idempotency) return {};
    return [this](domain::WriteTx& tx, const T& value) -> Status {
      Response response = render_(value);
      if (Status completed =
              deps_.idempotency.Complete(tx, *request_.idempotency, ToStored(response));
          !completed) {
        return completed;
      }
      stored_ = std::move(response);  // the last attempt's is the one that commits
      return {};
    };
  }

  // The answer for the committed `value`: the very response stored with it when there is one.
  [[nodiscard]] Response Success(const T& value) const {
    if (!stored_) return render_(value);
    Response response = *stored_;
    response.remembered = true;
    return response;
  }

 private:
  const Request& request_;
  const Dependencies& deps_;
  Render render_;
  std::optional<Response> stored_;
};

}  // namespace referrald::http
