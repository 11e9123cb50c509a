#include "app/cli.hpp"

int main(int argc, char** argv) { return referrald::app::Main(argc, argv); }
