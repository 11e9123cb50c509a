#include "domain/personal_data.hpp"

#include "domain/audit.hpp"
#include "domain/errors.hpp"
#include "domain/limits.hpp"
#include "util/uuid.hpp"

namespace referrald::domain {

PersonalDataService::PersonalDataService(Store& store, const Clock& clock, IdGenerator& ids,
                                         SubscriptionService& subscriptions)
    : store_(store), clock_(clock), ids_(ids), subscriptions_(subscriptions) {}

Result<UserLookup> PersonalDataService::Lookup(std::string_view user_id_text) {
  if (!IsUuid(user_id_text)) return errors::InvalidUserId();
  const std::string user_id = CanonicalUuid(user_id_text);
  auto user = store_.FindUser(user_id);
  if (!user) return user.error();
  if (!*user) return errors::UserNotFound();
  UserLookup out;
  out.user = std::move(**user);
  auto code = store_.FindNewestCode(user_id);
  if (!code) return code.error();
  out.code = std::move(*code);
  auto referred_by = store_.FindReferralOf(user_id);
  if (!referred_by) return referred_by.error();
  out.referred_by = std::move(*referred_by);
  auto stats = store_.GetReferrerStats(user_id);
  if (!stats) return stats.error();
  out.stats = *stats;
  auto rewards = store_.ListRewards(user_id, PageRequest{kUserLookupRewards, std::nullopt});
  if (!rewards) return rewards.error();
  out.rewards = std::move(*rewards);
  auto subscription = subscriptions_.Me(user_id);
  if (!subscription) return subscription.error();
  out.subscription = std::move(*subscription);
  return out;
}

Result<UserExport> PersonalDataService::Export(std::string_view user_id_text) {
  if (!IsUuid(user_id_text)) return errors::InvalidUserId();
  auto exported = store_.ExportUser(CanonicalUuid(user_id_text));
  if (!exported) return exported.error();
  if (!*exported) return errors::UserNotFound();
  return std::move(**exported);
}

Result<std::string> PersonalDataService::Erase(const Actor& admin, std::string_view user_id_text) {
  if (!IsUuid(user_id_text)) return errors::InvalidUserId();
  const std::string user_id = CanonicalUuid(user_id_text);
  const TimePoint now = clock_.Now();
  return Transact(store_, [&](WriteTx& tx) -> Result<std::string> {
    if (auto upserted = tx.UpsertUser(admin, now); !upserted) return upserted.error();
    // First: it holds the user's row, so that a write of the user's in flight ends before the
    // rest (which then sees what it wrote) or waits for the erasure and is refused.
    auto erased = tx.MarkUserErased(user_id, now);
    if (!erased) return erased.error();
    if (!*erased) return errors::UserNotFound();
    if ((*erased)->email && !(*erased)->email->empty()) {
      if (auto scrubbed = tx.ScrubEmail(*(*erased)->email); !scrubbed) return scrubbed.error();
    }
    auto deactivated = tx.DeactivateCodesOf(user_id);
    if (!deactivated) return deactivated.error();
    if (auto dropped = tx.DeleteIdempotencyKeysOf(user_id); !dropped) return dropped.error();
    auto audited = tx.AppendAudit(audit::Entry(ids_.New(now), audit::kServicePersonalData,
                                               audit::kUserErased, audit::kSuccess, user_id,
                                               {{"erasedBy", admin.id},
                                                {"codesDeactivated", *deactivated},
                                                {"alreadyErased", (*erased)->already_erased}},
                                               std::nullopt, now));
    if (!audited) return audited.error();
    return user_id;
  });
}

}  // namespace referrald::domain
