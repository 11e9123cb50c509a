#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace referrald::testing {
namespace {

struct Argv {
  std::vector<std::string> storage;
  std::vector<char*> pointers;
  explicit Argv(std::vector<std::string> items) : storage(std::move(items)) {
    for (auto& s : storage) pointers.push_back(s.data());
    pointers.push_back(nullptr);
  }
};

Argv EnvList(const ProcessEnv& env) {
  std::vector<std::string> items;
  for (const auto& [k, v] : env) items.push_back(k + "=" + v);
  return Argv(std::move(items));
}

// In the child: chdir, redirect, exec. Never returns.
[[noreturn]] void ExecChild(const std::vector<std::string>& args, const ProcessEnv& env,
                            const std::string& cwd, int out_fd, int err_fd) {
  if (chdir(cwd.c_str()) != 0) _exit(127);
  dup2(out_fd, STDOUT_FILENO);
  dup2(err_fd, STDERR_FILENO);
  const int devnull = open("/dev/null", O_RDONLY);
  if (devnull >= 0) dup2(devnull, STDIN_FILENO);
  // Nothing else of the test process reaches the child: a pipe end it kept open would keep the
  // parent waiting for an end of file (a server the child starts lives on with it).
  close_range(3, ~0U, 0);
  Argv argv(args);
  Argv envp = EnvList(env);
  execve(argv.pointers[0], argv.pointers.data(), envp.pointers.data());
  _exit(127);
}

int DecodeStatus(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

void ReadAll(int fd, std::string& into) {
  char buf[4096];
  while (true) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      return;
    }
  }
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& args, const ProcessEnv& env,
                         const std::string& cwd) {
  int out[2];
  int err[2];
  if (pipe(out) != 0 || pipe(err) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    close(out[0]);
    close(err[0]);
    ExecChild(args, env, cwd, out[1], err[1]);
  }
  close(out[1]);
  close(err[1]);
  ProcessResult result;
  // Read both pipes without deadlocking on a full one.
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[4096];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = DecodeStatus(status);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& args, const ProcessEnv& env,
                           const std::string& cwd) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    close(pipe_fds[0]);
    ExecChild(args, env, cwd, pipe_fds[1], pipe_fds[1]);
  }
  close(pipe_fds[1]);
  fd_ = pipe_fds[0];
}

ChildProcess::~ChildProcess() {
  if (!exited_ && pid_ > 0) {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  if (fd_ >= 0) close(fd_);
}

std::optional<std::string> ChildProcess::WaitForLine(const std::string& needle,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    // Search complete lines not yet searched.
    std::size_t end;
    while ((end = output_.find('\n', scanned_)) != std::string::npos) {
      std::string line = output_.substr(scanned_, end - scanned_);
      scanned_ = end + 1;
      if (line.find(needle) != std::string::npos) return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = poll(&pfd, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return std::nullopt;
    char buf[4096];
    const ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) return std::nullopt;  // end of output
    output_.append(buf, static_cast<std::size_t>(n));
  }
}

void ChildProcess::Signal(int signal) const { kill(pid_, signal); }

bool ChildProcess::Alive() {
  if (exited_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return true;
  exited_ = true;
  exit_code_ = DecodeStatus(status);
  return false;
}

int ChildProcess::Wait() {
  if (exited_) return exit_code_;
  ReadAll(fd_, output_);
  int status = 0;
  waitpid(pid_, &status, 0);
  exited_ = true;
  exit_code_ = DecodeStatus(status);
  return exit_code_;
}

}  // namespace referrald::testing
