#include "domain/idempotency.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "domain/errors.hpp"
#include "domain/limits.hpp"

namespace referrald::domain {
namespace {

// Rows deleted per purge transaction: short transactions, whatever the backlog.
constexpr int kPurgeBatch = 5000;

bool SameRequest(const IdempotencyRecord& row, const IdempotentRequest& request) {
  return row.method == request.method && row.path == request.path &&
         row.body_sha256 == request.body_sha256;
}

// Whether `row` no longer counts at `now`: older than the TTL, or a reservation of an earlier
// version whose request never finished and whose lease has ended.
bool Forgotten(const IdempotencyRecord& row, TimePoint now, TimePoint cutoff) {
  if (row.created_at <= cutoff) return true;
  return row.state == IdempotencyState::kInProgress && row.lease_until <= now;
}

// What a row that counts means for `request`: its response again, or an error.
Result<std::optional<StoredResponse>> Answer(const IdempotencyRecord& row,
                                             const IdempotentRequest& request) {
  if (!SameRequest(row, request)) return errors::IdempotencyKeyReused();
  if (row.state != IdempotencyState::kCompleted || !row.response) {
    return errors::IdempotencyInProgress();
  }
  return std::optional<StoredResponse>(row.response);
}

std::string Slot(const IdempotentRequest& request) {
  std::string slot = request.user_id;
  slot += '\n';
  slot += request.key;
  return slot;
}

}  // namespace

bool IsValidIdempotencyKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxIdempotencyKeyLength) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return c >= '\x21' && c <= '\x7e'; });
}

TimePoint IdempotencyCutoff(TimePoint now, std::chrono::hours ttl) {
  return now - std::chrono::duration_cast<TimePoint::duration>(ttl);
}

IdempotencyService::Running::Running(IdempotencyService* service, std::string slot)
    : service_(service), slot_(std::move(slot)) {}

IdempotencyService::Running::Running(Running&& other) noexcept
    : service_(std::exchange(other.service_, nullptr)), slot_(std::move(other.slot_)) {}

IdempotencyService::Running::~Running() {
  if (service_ != nullptr) service_->Leave(slot_);
}

IdempotencyService::IdempotencyService(Store& store, const Clock& clock, IdGenerator& ids,
                                       IdempotencySettings settings)
    : store_(store), clock_(clock), ids_(ids), settings_(settings) {}

Result<IdempotencyService::Running> IdempotencyService::Enter(const IdempotentRequest& request) {
  if (!IsValidIdempotencyKey(request.key)) return errors::InvalidIdempotencyKey();
  std::string slot = Slot(request);
  {
    const std::lock_guard lock(running_mutex_);
    if (!running_.insert(slot).second) return errors::IdempotencyInProgress();
  }
  return Running(this, std::move(slot));
}

void IdempotencyService::Leave(const std::string& slot) {
  const std::lock_guard lock(running_mutex_);
  running_.erase(slot);
}

Result<std::optional<StoredResponse>> IdempotencyService::Find(const IdempotentRequest& request) {
  auto found = store_.FindIdempotencyKey(request.user_id, request.key);
  if (!found) return found.error();
  const TimePoint now = clock_.Now();
  if (!*found || Forgotten(**found, now, IdempotencyCutoff(now, settings_.ttl))) {
    return std::optional<StoredResponse>();
  }
  return Answer(**found, request);
}

Status IdempotencyService::Complete(WriteTx& tx, const IdempotentRequest& request,
                                    const StoredResponse& response) {
  const TimePoint now = clock_.Now();
  const IdempotencyRecord mine{request.user_id,
                               request.key,
                               request.method,
                               request.path,
                               request.body_sha256,
                               IdempotencyState::kCompleted,
                               ids_.New(now),
                               now,
                               now,
                               response};
  // On PostgreSQL an insert of a key another transaction inserted waits for it to commit or roll
  // back; on SQLite writers take turns. Either way the row found below is committed.
  auto inserted = tx.InsertIdempotencyKey(mine);
  if (!inserted) return inserted.error();
  if (*inserted) return {};
  auto found = tx.FindIdempotencyKey(request.user_id, request.key);
  if (!found) return found.error();
  if (*found && Forgotten(**found, now, IdempotencyCutoff(now, settings_.ttl))) {
    // Conditional on the row seen: of two requests replacing it, one wins.
    auto replaced = tx.ReplaceIdempotencyKey(mine, (*found)->owner);
    if (!replaced) return replaced.error();
    if (*replaced) return {};
  }
  spdlog::debug("idempotency: another request stored the key first; rolling back");
  return errors::IdempotencyInProgress();
}

Status IdempotencyService::Remember(const IdempotentRequest& request,
                                    const StoredResponse& response) {
  return Transact(store_, [&](WriteTx& tx) -> Status { return Complete(tx, request, response); });
}

Result<std::int64_t> PurgeIdempotencyKeys(Store& store, TimePoint now, std::chrono::hours ttl) {
  const TimePoint cutoff = IdempotencyCutoff(now, ttl);
  std::int64_t total = 0;
  while (true) {
    auto deleted = Transact(store, [&](WriteTx& tx) {
      return tx.DeleteExpiredIdempotencyKeys(cutoff, now, kPurgeBatch);
    });
    if (!deleted) return deleted.error();
    total += *deleted;
    if (*deleted < kPurgeBatch) return total;
  }
}

}  // namespace referrald::domain
