#pragma once
// The command line: serve | migrate | token | job run, each with --help (CLI11).

namespace referrald::app {

// Parses argv, runs the subcommand, returns the process exit code.
int Main(int argc, char** argv);

}  // namespace referrald::app
