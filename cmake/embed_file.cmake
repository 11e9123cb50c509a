# Turns docs/openapi.json into a C++ source defining referrald::http::OpenApiDocument(), so the
# binary serves the document it was built with. Invoked at build time:
#   cmake -DIN=<docs/openapi.json> -DOUT=<generated/openapi.cpp> -P this
if(NOT DEFINED IN OR NOT DEFINED OUT)
  message(FATAL_ERROR "embed_file.cmake: pass -DIN=<file> -DOUT=<file.cpp>")
endif()

set(delimiter "openapi_json")  # at most 16 characters (C++ raw string limit)
file(READ "${IN}" doc)
string(FIND "${doc}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "embed_file.cmake: ${IN} contains the raw string delimiter )${delimiter}\"")
endif()

set(content "// Generated from docs/openapi.json by cmake/embed_file.cmake. Do not edit.
#include \"http/openapi.hpp\"

namespace referrald::http {

std::string_view OpenApiDocument() {
  static constexpr std::string_view kDocument = R\"${delimiter}(${doc})${delimiter}\";
  return kDocument;
}

}  // namespace referrald::http
")
file(WRITE "${OUT}.tmp" "${content}")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
