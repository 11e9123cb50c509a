#pragma once
// The schema migrations compiled into the binary (from migrations/<dialect>/NNNN_name.sql).

#include <cstddef>
#include <span>
#include <string_view>

namespace referrald::storage {

struct Migration {
  int version;            // NNNN of the file name; applied in ascending order, once
  std::string_view name;  // file name without extension
  std::string_view sql;   // the whole file, possibly several statements
};

std::span<const Migration> SqliteMigrations();
std::span<const Migration> PostgresMigrations();

}  // namespace referrald::storage
