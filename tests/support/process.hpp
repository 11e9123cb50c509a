#pragma once
// Runs the real `referrald` binary from tests: to completion (RunProcess) or in the background
// with its output readable line by line (ChildProcess).

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace referrald::testing {

using ProcessEnv = std::map<std::string, std::string>;

struct ProcessResult {
  int exit_code = -1;  // -1 when it did not exit normally
  std::string out;
  std::string err;
};

// Runs `args` (args[0] is the program path) in `cwd` with exactly `env`; waits for it.
ProcessResult RunProcess(const std::vector<std::string>& args, const ProcessEnv& env,
                         const std::string& cwd);

class ChildProcess {
 public:
  // Starts `args` in `cwd` with exactly `env`; stdout and stderr are merged into one pipe.
  ChildProcess(const std::vector<std::string>& args, const ProcessEnv& env, const std::string& cwd);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Reads output until a line containing `needle` arrives; returns that line, or nullopt at
  // end of output or after `timeout`.
  std::optional<std::string> WaitForLine(const std::string& needle,
                                         std::chrono::milliseconds timeout);
  void Signal(int signal) const;
  // True while the process has not exited (checked without waiting).
  bool Alive();
  // Waits for exit; returns the exit code, -1 when killed by a signal. Drains the output.
  int Wait();
  [[nodiscard]] const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
  std::string output_;       // everything read so far
  std::size_t scanned_ = 0;  // output_ before this offset was already searched by whole lines
  bool exited_ = false;
  int exit_code_ = -1;
};

}  // namespace referrald::testing
