// Linked into the executables of the tsan build only (REFERRALD_TSAN, the tsan preset).
// ThreadSanitizer (gcc 12's libtsan, clang 14's runtime) intercepts pthread_mutex_timedlock but
// not pthread_mutex_clocklock, which libstdc++ 12 uses for std::timed_mutex::try_lock_for (a
// steady_clock deadline). A lock taken that way is invisible to TSan: it then reports "unlock of
// an unlocked mutex" and misses the happens-before the mutex gives, so that every access it
// guards could be reported as a race. This definition takes precedence over libc's and hands the
// same wait to pthread_mutex_timedlock, which TSan sees. Not a suppression: TSan still checks
// every access.

#include <pthread.h>
#include <time.h>

namespace {

constexpr long long kNanosPerSecond = 1000000000LL;

long long Nanos(const timespec& t) { return t.tv_sec * kNanosPerSecond + t.tv_nsec; }

}  // namespace

extern "C" int pthread_mutex_clocklock(pthread_mutex_t* __restrict mutex, clockid_t clock,
                                       const timespec* __restrict deadline) noexcept {
  if (clock == CLOCK_REALTIME) return pthread_mutex_timedlock(mutex, deadline);
  timespec now_on_clock{};
  timespec now_real{};
  clock_gettime(clock, &now_on_clock);
  clock_gettime(CLOCK_REALTIME, &now_real);
  long long remaining = Nanos(*deadline) - Nanos(now_on_clock);
  if (remaining < 0) remaining = 0;
  const long long real_deadline = Nanos(now_real) + remaining;
  timespec real{};
  real.tv_sec = static_cast<time_t>(real_deadline / kNanosPerSecond);
  real.tv_nsec = static_cast<long>(real_deadline % kNanosPerSecond);
  return pthread_mutex_timedlock(mutex, &real);
}
