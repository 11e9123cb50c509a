# Turns the numbered SQL migrations into a C++ source so the binary carries its schema.
# Invoked at build time: cmake -DOUT=<file> -DSQLITE_FILES=<a;b> -DPOSTGRES_FILES=<a;b> -P this
function(emit_list var files out_text)
  set(text "const Migration ${var}[] = {\n")
  set(count 0)
  foreach(f IN LISTS files)
    get_filename_component(name "${f}" NAME_WE)
    string(REGEX MATCH "^[0-9]+" num "${name}")
    math(EXPR version "${num}")
    file(READ "${f}" sql)
    string(APPEND text "  {${version}, \"${name}\", R\"referrald_sql(${sql})referrald_sql\"},\n")
    math(EXPR count "${count} + 1")
  endforeach()
  if(count EQUAL 0)
    string(APPEND text "  {0, \"\", \"\"},\n")
  endif()
  string(APPEND text "};\nconst std::size_t ${var}Count = ${count};\n")
  set(${out_text} "${text}" PARENT_SCOPE)
endfunction()

string(REPLACE "|" ";" SQLITE_FILES "${SQLITE_FILES}")
string(REPLACE "|" ";" POSTGRES_FILES "${POSTGRES_FILES}")
emit_list(kSqlite "${SQLITE_FILES}" sqlite_text)
emit_list(kPostgres "${POSTGRES_FILES}" postgres_text)

set(content "// Generated from migrations/*/NNNN_*.sql by cmake/embed_migrations.cmake. Do not edit.
#include \"storage/migrations.hpp\"

namespace referrald::storage {
namespace {
${sqlite_text}
${postgres_text}
}  // namespace

std::span<const Migration> SqliteMigrations() { return {kSqlite, kSqliteCount}; }
std::span<const Migration> PostgresMigrations() { return {kPostgres, kPostgresCount}; }

}  // namespace referrald::storage
")
file(WRITE "${OUT}.tmp" "${content}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
